/** What one `inferledger run` process runs: everything (one process on the embedded warehouse) or one role against a server. */
export const ROLES = ['all', 'collector', 'worker', 'scheduler'] as const;
export type Role = (typeof ROLES)[number];
