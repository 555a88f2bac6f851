/**
 * NVIDIA Multi-Instance GPU (MIG) profiles of the GPUs that offer them. A
 * profile `<n>g.<m>gb` holds n of the GPU's 7 compute slices, so it is n/7 of
 * the GPU's compute whatever its memory: 1g.10gb is 1/7 of an H100, 3g.40gb
 * 3/7. `perGpu` is how many instances of the profile one GPU holds (NVIDIA's
 * MIG user guide, "Supported MIG Profiles"); `+me` profiles (media
 * extensions) count like their base profile.
 */
export interface MigProfile {
  /** Compute slices out of COMPUTE_SLICES_PER_GPU. */
  computeSlices: number;
  /** Most instances of the profile on one GPU. */
  perGpu: number;
}

export const COMPUTE_SLICES_PER_GPU = 7;

const profiles = (list: [string, number, number][]): Record<string, MigProfile> =>
  Object.fromEntries(list.map(([name, computeSlices, perGpu]) => [name, { computeSlices, perGpu }]));

/** MIG profiles per GPU type; keys are the names `--gpu-type` takes. */
export const MIG_CATALOG: Readonly<Record<string, Readonly<Record<string, MigProfile>>>> = {
  'A100-40GB': profiles([['1g.5gb', 1, 7], ['1g.5gb+me', 1, 1], ['1g.10gb', 1, 4], ['2g.10gb', 2, 3], ['3g.20gb', 3, 2], ['4g.20gb', 4, 1], ['7g.40gb', 7, 1]]),
  'A100-80GB': profiles([['1g.10gb', 1, 7], ['1g.10gb+me', 1, 1], ['1g.20gb', 1, 4], ['2g.20gb', 2, 3], ['3g.40gb', 3, 2], ['4g.40gb', 4, 1], ['7g.80gb', 7, 1]]),
  'H100-80GB': profiles([['1g.10gb', 1, 7], ['1g.10gb+me', 1, 1], ['1g.20gb', 1, 4], ['2g.20gb', 2, 3], ['3g.40gb', 3, 2], ['4g.40gb', 4, 1], ['7g.80gb', 7, 1]]),
  'H100-94GB': profiles([['1g.12gb', 1, 7], ['1g.12gb+me', 1, 1], ['1g.24gb', 1, 4], ['2g.24gb', 2, 3], ['3g.47gb', 3, 2], ['4g.47gb', 4, 1], ['7g.94gb', 7, 1]]),
  'H200-141GB': profiles([['1g.18gb', 1, 7], ['1g.18gb+me', 1, 1], ['1g.35gb', 1, 4], ['2g.35gb', 2, 3], ['3g.71gb', 3, 2], ['4g.71gb', 4, 1], ['7g.141gb', 7, 1]]),
};

/** Other names of catalogued GPU types (as people and tags write them). */
const ALIASES: Readonly<Record<string, string>> = {
  'A100': 'A100-80GB', 'A100-SXM4-40GB': 'A100-40GB', 'A100-SXM4-80GB': 'A100-80GB', 'A100-PCIE-40GB': 'A100-40GB', 'A100-PCIE-80GB': 'A100-80GB',
  'H100': 'H100-80GB', 'H100-SXM5-80GB': 'H100-80GB', 'H100-PCIE-80GB': 'H100-80GB', 'H100-NVL': 'H100-94GB', 'H100-NVL-94GB': 'H100-94GB',
  'H200': 'H200-141GB', 'H200-SXM-141GB': 'H200-141GB', 'H200-NVL-141GB': 'H200-141GB',
};

/** The catalog's name of a GPU type, case and alias insensitive; undefined when it has none. */
export function migGpuType(name: string): string | undefined {
  const upper = name.trim().toUpperCase();
  const direct = Object.keys(MIG_CATALOG).find((t) => t.toUpperCase() === upper);
  return direct ?? ALIASES[upper];
}

/** Catalogued GPU types, for error messages. */
export const MIG_GPU_TYPES = Object.keys(MIG_CATALOG);

/** A profile of a GPU type, or a message saying why there is none. */
export function migProfile(gpuType: string, profile: string): { type: string; profile: MigProfile } | { error: string } {
  const type = migGpuType(gpuType);
  if (type === undefined) return { error: `GPU type ${JSON.stringify(gpuType)} has no MIG profiles in the catalog (it knows ${MIG_GPU_TYPES.join(', ')})` };
  const found = MIG_CATALOG[type]?.[profile.trim().toLowerCase()];
  if (found === undefined) return { error: `unknown MIG profile ${JSON.stringify(profile)} for ${type} (its profiles: ${Object.keys(MIG_CATALOG[type] ?? {}).join(', ')})` };
  return { type, profile: found };
}

/**
 * Compute share of a profile's name alone (`<n>g.` prefix): the same on every
 * GPU, so a bill's MIG tags need no GPU type. Undefined when the name is not
 * a profile of any catalogued GPU.
 */
export function migComputeSlices(profile: string): number | undefined {
  const name = profile.trim().toLowerCase();
  for (const type of MIG_GPU_TYPES) {
    const found = MIG_CATALOG[type]?.[name];
    if (found) return found.computeSlices;
  }
  return undefined;
}

/** Every catalogued profile name with its compute slices (for SQL parameters). */
export function migProfileSlices(): { names: string[]; slices: number[] } {
  const all = new Map<string, number>();
  for (const type of MIG_GPU_TYPES) for (const [name, p] of Object.entries(MIG_CATALOG[type] ?? {})) all.set(name, p.computeSlices);
  return { names: [...all.keys()], slices: [...all.values()] };
}
