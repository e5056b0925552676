-- An entity's timeline and an actor's records are looked up across workspaces
-- (founders, admins, spanning keys) as well as within one: lead with the entity
-- and the actor, and let the scope filter the few rows that match.
DROP INDEX events_entity;
CREATE INDEX events_entity ON events (entity_type, entity_id, occurred_at, id);
DROP INDEX events_actor;
CREATE INDEX events_actor ON events (actor_id, occurred_at, id) WHERE actor_id IS NOT NULL;
