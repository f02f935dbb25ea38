-- Single-use deep links: when a token's link was first used (portals that ask for it).
ALTER TABLE registry.tokens ADD COLUMN deep_link_used_at timestamptz;
