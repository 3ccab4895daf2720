//! Rankings of the suites, the fleet's policy and the choice of a suite.

use super::*;

/// A total order of the suites, weakest first.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ranking([SuiteId; SuiteId::ALL.len()]);

impl Ranking {
    /// `symmetric < pubkey < pq-draft < pq < hybrid`.
    pub const DEFAULT: Ranking = Ranking([
        SuiteId::Symmetric,
        SuiteId::PubKey,
        SuiteId::PqDraft,
        SuiteId::PostQuantum,
        SuiteId::Hybrid,
    ]);

    /// A ranking from every suite, weakest first; refused unless each suite
    /// appears exactly once.
    pub fn new(weakest_first: &[SuiteId]) -> Result<Ranking, Error> {
        let order: [SuiteId; SuiteId::ALL.len()] = weakest_first
            .try_into()
            .map_err(|_| Error::from(NegotiationError::InvalidRanking))?;
        if SuiteSet::of(&order) != SuiteSet::ALL {
            return Err(NegotiationError::InvalidRanking.into());
        }
        Ok(Ranking(order))
    }

    /// The rank of `s` (0 = weakest).
    pub fn rank(&self, s: SuiteId) -> usize {
        self.0.iter().position(|x| *x == s).unwrap_or(0)
    }

    /// The suites, weakest first.
    pub fn order(&self) -> &[SuiteId] {
        &self.0
    }

    /// The strongest suite of `set`, if any.
    pub fn strongest(&self, set: SuiteSet) -> Option<SuiteId> {
        self.0.iter().rev().copied().find(|s| set.contains(*s))
    }

    /// The suites of `set` ranked strictly above `s`.
    pub fn above(&self, s: SuiteId, set: SuiteSet) -> SuiteSet {
        let r = self.rank(s);
        self.0[r + 1..]
            .iter()
            .fold(SuiteSet::EMPTY, |acc, x| acc.with(*x))
            .intersection(set)
    }
}

impl Default for Ranking {
    fn default() -> Ranking {
        Ranking::DEFAULT
    }
}

/// C2's negotiation policy for one device.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Policy {
    /// The order of the suites.
    pub ranking: Ranking,
    /// The suites C2 may move a device to.
    pub allowed: SuiteSet,
    /// The weakest suite acceptable as a device's running suite.
    pub minimum: SuiteId,
}

impl Default for Policy {
    /// Default ranking, every suite allowed, no minimum beyond symmetric.
    fn default() -> Policy {
        Policy {
            ranking: Ranking::DEFAULT,
            allowed: SuiteSet::ALL,
            minimum: SuiteId::Symmetric,
        }
    }
}

impl Policy {
    /// The same policy with another allowed set.
    pub fn with_allowed(self, allowed: SuiteSet) -> Policy {
        Policy { allowed, ..self }
    }
    /// The same policy with another minimum.
    pub fn with_minimum(self, minimum: SuiteId) -> Policy {
        Policy { minimum, ..self }
    }
}

/// The fleet's policy: a default for every device and per-device overrides
/// of the allowed set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FleetPolicy {
    /// The policy of devices without an override.
    pub default: Policy,
    pub(super) overrides: Vec<(Id, SuiteSet)>,
}

impl FleetPolicy {
    /// A fleet policy with no override.
    pub fn new(default: Policy) -> FleetPolicy {
        FleetPolicy {
            default,
            overrides: Vec::new(),
        }
    }
    /// Replace the allowed set of one device (ranking and minimum stay the
    /// fleet's).
    pub fn set_override(&mut self, device: Id, allowed: SuiteSet) {
        match self.overrides.iter_mut().find(|(id, _)| *id == device) {
            Some(slot) => slot.1 = allowed,
            None => self.overrides.push((device, allowed)),
        }
    }
    /// Drop a device's override.
    pub fn remove_override(&mut self, device: &Id) {
        self.overrides.retain(|(id, _)| id != device);
    }
    /// The effective policy of `device`.
    pub fn for_device(&self, device: &Id) -> Policy {
        match self.overrides.iter().find(|(id, _)| id == device) {
            Some((_, allowed)) => self.default.with_allowed(*allowed),
            None => self.default,
        }
    }
}

/// What a device offers: its current suite and the suites it can move to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Offer {
    /// The suite the device runs.
    pub current: SuiteId,
    /// The suites it offers.
    pub suites: SuiteSet,
}

/// C2's answer to an offer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Decision {
    /// Move the device to this suite (send a SetSuite).
    Upgrade(SuiteId),
    /// Keep the current suite (nothing better is offered and allowed).
    Stay,
    /// Nothing better is offered and allowed, and the device offered its
    /// current (KEM) suite again with fresh keys: answer with a SetSuite
    /// for the current suite, which replaces the device's keys.
    Rekey(SuiteId),
    /// Nothing acceptable is offered and the current suite is ranked below
    /// the policy's minimum: the device keeps running, flagged.
    BelowMinimum,
}

/// The strongest suite in `offer ∩ compiled_in ∩ policy.allowed` ranked at
/// least `policy.minimum` and strictly above the current suite (a suite of
/// the current suite's rank is the current suite: there is no downgrade and
/// no sideways move). Without one: [`Decision::Rekey`] if the device
/// offered its current suite again, a KEM suite compiled in and ranked at
/// least the minimum (a rekey keeps the suite, so the allowed set does not
/// apply: it lists where C2 may *move* a device); [`Decision::Stay`]; or
/// [`Decision::BelowMinimum`] if the current suite is ranked below the
/// minimum.
pub fn choose(policy: &Policy, offer: &Offer, compiled_in: SuiteSet) -> Decision {
    let r = &policy.ranking;
    let min = r.rank(policy.minimum);
    let candidates = r.above(
        offer.current,
        offer
            .suites
            .intersection(compiled_in)
            .intersection(policy.allowed),
    );
    let rekey = offer.suites.contains(offer.current)
        && offer.current.is_kem_suite()
        && compiled_in.contains(offer.current);
    match r.strongest(candidates) {
        Some(s) if r.rank(s) >= min => Decision::Upgrade(s),
        _ if r.rank(offer.current) < min => Decision::BelowMinimum,
        _ if rekey => Decision::Rekey(offer.current),
        _ => Decision::Stay,
    }
}
