-- The C2 key a device is given during an upgrade (issue 12, item 3). The
-- SetSuite carries C2's key of the new suite current at that moment; a
-- rotation before the device's first command under the new suite must not
-- leave it with a key C2 no longer seals under. C2 pins the version here,
-- seals the first commands after the upgrade with it, then sends SetC2Key
-- for the newest key.

-- The version whose public key the pending SetSuite carries (NULL: a move
-- to the symmetric suite, which has no C2 key).
ALTER TABLE negotiations ADD COLUMN c2_key_version BIGINT;
-- Answers pending before this migration: the version current when the
-- answer was recorded.
UPDATE negotiations SET c2_key_version = (
    SELECT MAX(k.version) FROM c2_keys k
    WHERE k.suite = negotiations.suite AND k.created_at <= negotiations.created_at
) WHERE suite <> 'symmetric';

-- The version the device was given in the SetSuite of its last committed
-- upgrade: a repeated Confirm (the device has not opened a command under
-- the new suite yet, so it holds that key) is answered under it. NULL:
-- upgrades committed before this migration (answered under the current
-- key, as before) or to the symmetric suite.
ALTER TABLE clients ADD COLUMN upgrade_c2_key_version BIGINT;
