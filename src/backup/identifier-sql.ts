/**
 * Statements of sql/backup whose database names the engine will not bind:
 * BACKUP and RESTORE take no query parameter in a database name (the parser
 * refuses one). Those `{name:Identifier}` placeholders are filled here, and
 * only with a plain identifier, back-quoted; every other value stays a bound
 * parameter.
 */
import { sqlFile } from '../warehouse/sql-files.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The text of `sql/<file>.sql` with the named identifier placeholders filled. */
export function sqlWithIdentifiers(file: string, identifiers: Readonly<Record<string, string>>): string {
  let text = sqlFile(file);
  for (const [name, value] of Object.entries(identifiers)) {
    if (!IDENTIFIER.test(value)) throw new Error(`not a plain identifier: ${JSON.stringify(value)}`);
    const placeholder = `{${name}:Identifier}`;
    if (!text.includes(placeholder)) throw new Error(`sql/${file}.sql has no ${placeholder}`);
    text = text.replaceAll(placeholder, `\`${value}\``);
  }
  return text;
}
