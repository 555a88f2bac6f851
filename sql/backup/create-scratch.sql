-- An empty database for the tables a backup opened in place does not show.
CREATE DATABASE {scratch:Identifier} ENGINE = Atomic
