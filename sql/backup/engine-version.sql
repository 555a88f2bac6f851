-- The engine's version, recorded in the manifest.
SELECT version() AS version
