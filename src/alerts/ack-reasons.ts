/** Why an alert is fine, as `alerts ack --reason` takes it. */
export const ACK_REASONS = ['expected', 'planned'] as const;
export type AckReason = (typeof ACK_REASONS)[number];
