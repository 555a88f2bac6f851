/**
 * A ClickHouse server backs itself up: BACKUP DATABASE ... TO S3(...) and
 * RESTORE DATABASE ... FROM S3(...), ClickHouse 24.8 and newer, run on the
 * server by a user allowed to. On a server, `inferledger backup` and
 * `restore` print this route instead of copying anything.
 */

export function serverBackupRoute(database: string, command: 'backup' | 'restore'): string[] {
  const url = `'https://<bucket>.s3.<region>.amazonaws.com/inferledger/${database}/<YYYY-MM-DD>/'`;
  return [
    `inferledger ${command} copies the embedded warehouse; this configuration names a ClickHouse server (CLICKHOUSE_URL), which ${command === 'backup' ? 'backs itself up' : 'restores its own backups'}.`,
    'On ClickHouse 24.8 or newer, run on the server by a user granted BACKUP (to restore: the right to create the database and its tables):',
    '',
    `  BACKUP DATABASE ${database} TO S3(${url}, '<access key id>', '<secret access key>')`,
    `  RESTORE DATABASE ${database} FROM S3(${url}, '<access key id>', '<secret access key>')`,
    '',
    'Leave the keys out when the server has credentials of its own (use_environment_credentials); add ASYNC and follow a long one in system.backups.',
    'RESTORE wants the database absent or empty; afterwards `inferledger migrate` brings its schema forward. See docs/operations.md, "Backup and restore".',
  ];
}
