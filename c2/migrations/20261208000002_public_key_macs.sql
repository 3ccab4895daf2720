-- Integrity of public keys at rest (issue 12, item 8; docs/negotiation.md,
-- "Integrity of public keys at rest"): HMAC-SHA256 under a subkey of the
-- master key over the row's table, device id, outbox id (outbox rows),
-- suite and public keys, written with them and checked before they are
-- used. NULL: a row written before this migration; C2 computes the missing
-- MACs once, at its first start after the upgrade (trust on first use),
-- and refuses a row without one afterwards.

ALTER TABLE clients ADD COLUMN pk_mac BYTEA;
ALTER TABLE negotiations ADD COLUMN pk_mac BYTEA;
ALTER TABLE outbox ADD COLUMN pk_mac BYTEA;
