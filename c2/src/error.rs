//! The one error type of every C2 operation, with its HTTP status and gRPC
//! code (the two always agree).

use http::StatusCode;

/// Why an operation failed. A failed operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum C2Error {
    /// Malformed or unacceptable input (also: an operation the device's
    /// suite does not support).
    #[error("{0}")]
    InvalidArgument(String),
    /// A client, topic, membership or link that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A client, topic, membership or link that already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// Missing or wrong credential.
    #[error("missing or wrong admin token")]
    Unauthenticated,
    /// A message that does not authenticate under the topic key.
    #[error("message not authentic: {0}")]
    NotAuthentic(String),
    /// The request is well formed but the fleet's state forbids it, e.g. a
    /// topic membership the device's suite cannot serve.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A negotiation message from a device was refused (not authentic,
    /// stale, replayed, malformed, no upgrade pending).
    #[error("negotiation refused: {0}")]
    NegotiationRefused(String),
    /// Another process holds the data directory's lock.
    #[error("{0}")]
    DataDirInUse(String),
    /// A public key stored in the database failed its integrity check (its
    /// MAC under the master key): changed outside C2, or damaged. Nothing
    /// was sealed to it or verified with it.
    #[error("{0}")]
    IntegrityFailure(String),
    /// A dependency (database) is unreachable.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected backend failure; details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

/// Result of C2 operations.
pub type C2Result<T> = Result<T, C2Error>;

impl C2Error {
    /// Shorthand for [`C2Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> C2Error {
        C2Error::InvalidArgument(msg.into())
    }
    /// Shorthand for [`C2Error::NotFound`].
    pub fn not_found(msg: impl Into<String>) -> C2Error {
        C2Error::NotFound(msg.into())
    }
    /// Shorthand for [`C2Error::AlreadyExists`].
    pub fn exists(msg: impl Into<String>) -> C2Error {
        C2Error::AlreadyExists(msg.into())
    }
    /// Shorthand for [`C2Error::Internal`] (logged where it is created).
    pub fn internal(msg: impl Into<String>) -> C2Error {
        let msg = msg.into();
        tracing::error!(error = %msg, "internal error");
        C2Error::Internal(msg)
    }

    /// The HTTP status of this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            C2Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            C2Error::NotFound(_) => StatusCode::NOT_FOUND,
            C2Error::AlreadyExists(_) => StatusCode::CONFLICT,
            C2Error::Unauthenticated => StatusCode::UNAUTHORIZED,
            C2Error::NotAuthentic(_) => StatusCode::UNPROCESSABLE_ENTITY,
            C2Error::FailedPrecondition(_) => StatusCode::CONFLICT,
            C2Error::NegotiationRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            C2Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            C2Error::DataDirInUse(_) => StatusCode::CONFLICT,
            C2Error::IntegrityFailure(_) => StatusCode::INTERNAL_SERVER_ERROR,
            C2Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code of this error.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            C2Error::InvalidArgument(_) => tonic::Code::InvalidArgument,
            C2Error::NotFound(_) => tonic::Code::NotFound,
            C2Error::AlreadyExists(_) => tonic::Code::AlreadyExists,
            C2Error::Unauthenticated => tonic::Code::Unauthenticated,
            C2Error::NotAuthentic(_) => tonic::Code::FailedPrecondition,
            C2Error::FailedPrecondition(_) => tonic::Code::FailedPrecondition,
            C2Error::NegotiationRefused(_) => tonic::Code::PermissionDenied,
            C2Error::Unavailable(_) => tonic::Code::Unavailable,
            C2Error::Internal(_) => tonic::Code::Internal,
            C2Error::DataDirInUse(_) => tonic::Code::FailedPrecondition,
            C2Error::IntegrityFailure(_) => tonic::Code::DataLoss,
        }
    }

    /// A stable machine-readable name (the `error` field of REST bodies).
    pub fn kind(&self) -> &'static str {
        match self {
            C2Error::InvalidArgument(_) => "invalid_argument",
            C2Error::NotFound(_) => "not_found",
            C2Error::AlreadyExists(_) => "already_exists",
            C2Error::Unauthenticated => "unauthenticated",
            C2Error::NotAuthentic(_) => "not_authentic",
            C2Error::FailedPrecondition(_) => "failed_precondition",
            C2Error::NegotiationRefused(_) => "negotiation_refused",
            C2Error::Unavailable(_) => "unavailable",
            C2Error::DataDirInUse(_) => "data_dir_in_use",
            C2Error::IntegrityFailure(_) => "integrity_failure",
            C2Error::Internal(_) => "internal",
        }
    }

    /// The message sent to API callers (internal details are withheld).
    pub fn public_message(&self) -> String {
        match self {
            C2Error::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        }
    }
}

impl From<C2Error> for tonic::Status {
    fn from(e: C2Error) -> tonic::Status {
        tonic::Status::new(e.grpc_code(), e.public_message())
    }
}

impl From<sqlx::Error> for C2Error {
    fn from(e: sqlx::Error) -> C2Error {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::error!(error = %e, "database unavailable");
                C2Error::Unavailable("the database is unavailable".into())
            }
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                C2Error::AlreadyExists("the record already exists".into())
            }
            _ => C2Error::internal(format!("database: {e}")),
        }
    }
}

impl From<e4_proto::Error> for C2Error {
    fn from(e: e4_proto::Error) -> C2Error {
        use e4_proto::Error as E;
        match e {
            E::NotAuthentic
            | E::InvalidSignature
            | E::TimestampTooOld
            | E::TimestampInFuture
            | E::PubKeyNotFound => C2Error::NotAuthentic(e.to_string()),
            E::TooShortCiphertext
            | E::InvalidProtectedLen
            | E::InvalidArgument
            | E::UnsupportedOperation
            | E::UnsupportedSuite
            | E::UnknownSuite
            | E::InvalidCommandLength
            | E::InvalidCommand => C2Error::InvalidArgument(e.to_string()),
            E::Negotiation(n) => C2Error::NegotiationRefused(n.to_string()),
            other => C2Error::internal(format!("e4: {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_and_grpc_codes_agree() {
        let cases = [
            (C2Error::invalid("x"), 400, tonic::Code::InvalidArgument),
            (C2Error::not_found("x"), 404, tonic::Code::NotFound),
            (C2Error::exists("x"), 409, tonic::Code::AlreadyExists),
            (C2Error::Unauthenticated, 401, tonic::Code::Unauthenticated),
            (
                C2Error::IntegrityFailure("x".into()),
                500,
                tonic::Code::DataLoss,
            ),
        ];
        for (e, http, grpc) in cases {
            assert_eq!(e.http_status().as_u16(), http);
            assert_eq!(e.grpc_code(), grpc);
        }
        assert_eq!(
            C2Error::Internal("secret".into()).public_message(),
            "internal error"
        );
    }
}
