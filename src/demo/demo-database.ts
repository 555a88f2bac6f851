/** The database `inferledger demo` rebuilds on every run (its own, never the user's). */
export const DEMO_DATABASE = 'inferledger_demo';
