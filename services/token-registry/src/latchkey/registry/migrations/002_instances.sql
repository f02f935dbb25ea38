-- Delivery receipts: every running instance reports the sequence number it has applied,
-- and when it applied each recent change.

CREATE TABLE registry.instances (
    instance_id text PRIMARY KEY,
    service text NOT NULL,
    applied_seq bigint NOT NULL,
    mode text NOT NULL,
    started_at timestamptz NOT NULL,
    reported_at timestamptz NOT NULL
);

CREATE TABLE registry.deliveries (
    seq bigint NOT NULL,
    instance_id text NOT NULL,
    applied_at timestamptz NOT NULL,
    PRIMARY KEY (seq, instance_id)
);
