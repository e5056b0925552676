-- Trail audits itself into the reserved workspace `trail` (id 0), which only
-- founders and admins see and no API key writes to. A workspace that already
-- had the slug keeps its records under `trail-<id>`.
UPDATE workspaces SET slug = 'trail-' || id WHERE slug = 'trail';
INSERT INTO workspaces (id, slug, name, created_at)
VALUES (0, 'trail', 'Trail', (EXTRACT(EPOCH FROM now()) * 1000000)::BIGINT);
