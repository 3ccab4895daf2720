-- Automation of key policies (docs/automation.md): rules, their firings
-- (history, and the claim that makes a fire happen once), and the events
-- that event and count triggers consume. Ids come from `counters` rows, as
-- the outbox's do (no auto-increment common to SQLite and PostgreSQL).

INSERT INTO counters (name, value) VALUES ('rules', 0);
INSERT INTO counters (name, value) VALUES ('rule_events', 0);
INSERT INTO counters (name, value) VALUES ('rule_firings', 0);

CREATE TABLE rules (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    -- canonical text forms (automation/rule.rs): `topic:NAME`, `client:NAME`,
    -- `all-topics`, `all-clients`, `suite:NAME`
    target TEXT NOT NULL,
    -- one trigger per line: `every:DURATION`, `cron:EXPR`, `event:KIND`,
    -- `key-age:DURATION`, `count:N`
    triggers TEXT NOT NULL,
    -- `rotate-topic-key`, `new-client-key`, `rotate-c2-key`,
    -- `remove-from-topic:NAME`
    action TEXT NOT NULL,
    -- slots missed while no C2 ran: 'fire-once' or 'skip'
    missed TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    -- the next scheduled slot (unix ms); NULL: no schedule trigger
    next_fire_at BIGINT,
    last_fired_at BIGINT,
    -- membership changes counted towards a count trigger
    count_progress BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rules_due ON rules (enabled, next_fire_at);

-- One row per fire (and per skip or failure), newest kept (bounded per
-- rule). (rule_id, slot) is unique: the row is inserted in the transaction
-- that queues the fire's commands, so a slot fires at most once whatever
-- crashes and however many C2 processes share the database.
CREATE TABLE rule_firings (
    id BIGINT PRIMARY KEY,
    rule_id BIGINT NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    -- `schedule:<ms>`, `event:<id>`, `count:<event id>`, `age:<subject>:<ms>`,
    -- `manual:<firing id>`
    slot TEXT NOT NULL,
    -- when it was due (unix ms), when it ran
    due_at BIGINT NOT NULL,
    fired_at BIGINT NOT NULL,
    -- schedule, event, key-age, count, manual
    reason TEXT NOT NULL,
    -- fired, skipped, failed
    outcome TEXT NOT NULL,
    commands BIGINT NOT NULL,
    first_command BIGINT NOT NULL,
    last_command BIGINT NOT NULL,
    detail TEXT NOT NULL,
    UNIQUE (rule_id, slot)
);
CREATE INDEX rule_firings_rule ON rule_firings (rule_id, id);

-- Events for event and count triggers, written in the transaction of the
-- change itself, consumed (deleted) in the transaction that fires.
CREATE TABLE rule_events (
    id BIGINT PRIMARY KEY,
    -- client_joined, client_left, client_removed, suite_upgraded,
    -- below_minimum
    kind TEXT NOT NULL,
    client_id BYTEA,
    client_name TEXT,
    suite TEXT,
    -- the topic joined or left; for client_removed, every topic the client
    -- was a member of, one per line
    topics TEXT NOT NULL,
    at BIGINT NOT NULL
);
