/**
 * Typed wrappers over vitest's asymmetric matchers, which are typed `any`;
 * with these, strict lint holds in tests too.
 */
import { expect } from 'vitest';

export const matching = (pattern: RegExp): string => expect.stringMatching(pattern) as string;
export const containing = (subset: Record<string, unknown>): unknown => expect.objectContaining(subset) as unknown;
export const arrayContaining = (items: unknown[]): unknown => expect.arrayContaining(items) as unknown;
