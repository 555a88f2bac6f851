/** The billing export formats by name, as `ingest billing --format` takes them; each is defined in file-formats.ts. */
export const BILLING_FORMAT_NAMES = ['focus', 'aws-cur'] as const;
export type BillingFormatName = (typeof BILLING_FORMAT_NAMES)[number];
