/**
 * GPUs per instance for common cloud GPU instance types: with the
 * instance-hours on the bill, this gives a pool's GPU capacity (and so its idle
 * share). Overridable per pool in configuration (`attribution.pools.<id>.gpusPerInstance`).
 * Types not listed here make a pool's capacity unknown rather than guessed.
 */
export const GPU_CATALOG: Readonly<Record<string, number>> = {
  // AWS
  'p5.48xlarge': 8, 'p5e.48xlarge': 8, 'p5en.48xlarge': 8, 'p5.4xlarge': 1,
  'p4d.24xlarge': 8, 'p4de.24xlarge': 8,
  'p3.2xlarge': 1, 'p3.8xlarge': 4, 'p3.16xlarge': 8, 'p3dn.24xlarge': 8,
  'g6.xlarge': 1, 'g6.2xlarge': 1, 'g6.4xlarge': 1, 'g6.8xlarge': 1, 'g6.12xlarge': 4, 'g6.16xlarge': 1, 'g6.24xlarge': 4, 'g6.48xlarge': 8,
  'g6e.xlarge': 1, 'g6e.2xlarge': 1, 'g6e.4xlarge': 1, 'g6e.8xlarge': 1, 'g6e.12xlarge': 4, 'g6e.16xlarge': 1, 'g6e.24xlarge': 4, 'g6e.48xlarge': 8,
  'g5.xlarge': 1, 'g5.2xlarge': 1, 'g5.4xlarge': 1, 'g5.8xlarge': 1, 'g5.12xlarge': 4, 'g5.16xlarge': 1, 'g5.24xlarge': 4, 'g5.48xlarge': 8,
  'g4dn.xlarge': 1, 'g4dn.2xlarge': 1, 'g4dn.4xlarge': 1, 'g4dn.8xlarge': 1, 'g4dn.12xlarge': 4, 'g4dn.16xlarge': 1, 'g4dn.metal': 8,
  // Google Cloud
  'a3-megagpu-8g': 8, 'a3-highgpu-8g': 8, 'a3-highgpu-4g': 4, 'a3-highgpu-2g': 2, 'a3-highgpu-1g': 1,
  'a2-highgpu-1g': 1, 'a2-highgpu-2g': 2, 'a2-highgpu-4g': 4, 'a2-highgpu-8g': 8, 'a2-megagpu-16g': 16,
  'a2-ultragpu-1g': 1, 'a2-ultragpu-2g': 2, 'a2-ultragpu-4g': 4, 'a2-ultragpu-8g': 8,
  'g2-standard-4': 1, 'g2-standard-8': 1, 'g2-standard-12': 1, 'g2-standard-16': 1, 'g2-standard-24': 2, 'g2-standard-32': 1, 'g2-standard-48': 4, 'g2-standard-96': 8,
  // Azure
  'Standard_ND96isr_H100_v5': 8, 'Standard_ND96asr_v4': 8, 'Standard_ND96amsr_A100_v4': 8,
  'Standard_NC24ads_A100_v4': 1, 'Standard_NC48ads_A100_v4': 2, 'Standard_NC96ads_A100_v4': 4,
  'Standard_NC40ads_H100_v5': 1, 'Standard_NC80adis_H100_v5': 2,
  'Standard_NC4as_T4_v3': 1, 'Standard_NC8as_T4_v3': 1, 'Standard_NC16as_T4_v3': 1, 'Standard_NC64as_T4_v3': 4,
};
