/**
 * Node flags that take the embedded engine away, as on a machine chDB ships
 * no native build for (macOS, arm64 Linux): a module hook (node:module
 * `register()`, loaded with `--import`) makes every import of `chdb` or
 * `chdb/connection` fail.
 *
 * - `unsupported`: the package is there but its loader finds no native
 *   binding, and throws chDB's own ChdbPlatformUnsupportedError, with the
 *   message it gives on darwin-arm64 (what `npm install` leaves on a Mac).
 * - `missing`: the package cannot be resolved at all (ERR_MODULE_NOT_FOUND).
 * - `broken`: a build is there but does not load (a dlopen error).
 *
 * The hook and the module it puts in chDB's place are data: URLs, so the
 * flags work with plain `node` (no loader for TypeScript needed).
 */
import { join } from 'node:path';

export type EngineFailure = 'unsupported' | 'missing' | 'broken';

const CHDB_PACKAGE = join(import.meta.dirname, '..', '..', 'node_modules', 'chdb', 'package.json');

/** The message chDB's loader gives on a Mac, where no @chdb/lib-darwin-arm64 is installed. */
export const DARWIN_LOADER_MESSAGE =
  'chdb: no native binding for darwin-arm64. Expected optional dependency @chdb/lib-darwin-arm64. ' +
  'Tried: @chdb/lib-darwin-arm64 (not installed); local build/Release/chdb_node.node (MODULE_NOT_FOUND)';

export const DLOPEN_MESSAGE = 'failed to load native binding from @chdb/lib-linux-x64-gnu: libchdb.so: cannot open shared object file: No such file or directory.\n' +
  'Try: rm -rf node_modules && npm ci';

const dataUrl = (source: string): string => `data:text/javascript,${encodeURIComponent(source)}`;

/** What an import of chDB evaluates to instead of the engine: a throw, as chDB's loader does. */
function standIn(failure: 'unsupported' | 'broken'): string {
  const [errorClass, message] = failure === 'unsupported'
    ? ['ChdbPlatformUnsupportedError', DARWIN_LOADER_MESSAGE]
    : ['ChdbBinaryVersionMismatchError', DLOPEN_MESSAGE];
  return dataUrl([
    "import { createRequire } from 'node:module';",
    `const errors = createRequire(${JSON.stringify(CHDB_PACKAGE)})('./dist/errors.js');`,
    `throw new errors.${errorClass}(${JSON.stringify(message)});`,
  ].join('\n'));
}

function hooks(failure: EngineFailure): string {
  const outcome = failure === 'missing'
    ? "throw Object.assign(new Error(`Cannot find package 'chdb' imported from ${context.parentURL ?? '?'}`), { code: 'ERR_MODULE_NOT_FOUND' });"
    : `return { url: ${JSON.stringify(standIn(failure))}, shortCircuit: true };`;
  return dataUrl([
    'export async function resolve(specifier, context, next) {',
    "  if (specifier === 'chdb' || specifier.startsWith('chdb/')) {",
    `    ${outcome}`,
    '  }',
    '  return next(specifier, context);',
    '}',
  ].join('\n'));
}

/** `node` flags (before the script) that make chDB fail to load the given way. */
export function withoutEmbeddedEngine(failure: EngineFailure = 'unsupported'): string[] {
  return ['--import', dataUrl(`import { register } from 'node:module';\nregister(${JSON.stringify(hooks(failure))});`)];
}
