-- Integrity of C2's own public keys at rest (issue 12, item 8;
-- docs/negotiation.md, "Integrity of public keys at rest"): HMAC-SHA256
-- under the subkey of the master key that authenticates devices' public
-- keys (20261208000002_public_key_macs.sql), over the table name, the
-- suite, the key's version and the public key; written with the key and
-- checked before it is sent to a device or used. NULL: a key written
-- before this migration; C2 computes the missing MACs once, at its first
-- start after the upgrade (trust on first use), and refuses a key without
-- one afterwards.

ALTER TABLE c2_keys ADD COLUMN pk_mac BYTEA;
