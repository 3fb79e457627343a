/**
 * The versions of alertfence a scale run compares, each a source tree the function process can run from:
 * older commits are extracted with `git archive` (package.json, tsconfig.json, functions/, drivers/) into a
 * temporary directory that borrows this checkout's node_modules; `after` is this working tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../', import.meta.url));

export interface Variant {
  name: string;
  /** What it is, for tables. */
  label: string;
  /** The commit measured; `after` adds `+dirty` when the working tree has changes. */
  commit: string;
  root: string;
  /** It follows the Nodes with a watch: measured only once it says so in its log (`following the Nodes`). */
  followsNodes?: boolean;
  /** Settings of its own over the bench's. */
  env?: Record<string, string>;
}

/**
 * The versions by name: the commit before the per-request snapshot, the snapshot (4e5bfd6), main before the
 * fence-core change of issue #16 (88e1635), the counts from a table (cedbc8a), this tree.
 */
export const VARIANTS: Record<
  string,
  { label: string; commit?: string; followsNodes?: boolean; env?: Record<string, string> }
> = {
  before: {
    label: 'before (78a3e5a): a list of Nodes per request, four reads per named node',
    commit: '78a3e5a',
  },
  snapshot: { label: 'snapshot (4e5bfd6): one list of Nodes and journals per request', commit: '4e5bfd6' },
  main: {
    label: 'main (88e1635): one list of Nodes and journals per request, no gzip',
    commit: '88e1635',
  },
  table: {
    label: 'table (cedbc8a): the named Nodes, counts from a table when it settles them, gzip',
    commit: 'cedbc8a',
  },
  after: {
    label: 'after (this branch): counts from the Nodes the process follows (a watch), else as table',
    followsNodes: true,
  },
  unfollowed: {
    label:
      'unfollowed (this branch, ALERTFENCE_FOLLOW_NODES=false): what a Lambda does, no Nodes kept between alerts',
    env: { ALERTFENCE_FOLLOW_NODES: 'false' },
  },
};

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();

/**
 * Prepares the named variants under `dir`. `roots` names a source tree to run a variant from instead (a working
 * copy with a change not committed yet).
 */
export function prepareVariants(
  names: readonly string[],
  dir: string,
  roots: Record<string, string> = {},
): Variant[] {
  return names.map((name) => {
    const known = VARIANTS[name];
    if (!known) throw new Error(`unknown variant ${name}; known: ${Object.keys(VARIANTS).join(', ')}`);
    const given = roots[name];
    const follows = {
      ...(known.followsNodes ? { followsNodes: true } : {}),
      ...(known.env ? { env: known.env } : {}),
    };
    if (given) return { name, label: known.label, commit: `tree at ${given}`, root: given, ...follows };
    if (!known.commit) {
      const dirty = git('status', '--porcelain', '--', 'functions', 'drivers') !== '';
      return {
        name,
        label: known.label,
        commit: `${git('rev-parse', '--short', 'HEAD')}${dirty ? '+dirty' : ''}`,
        root: REPO,
        ...follows,
      };
    }
    const root = join(dir, name);
    mkdirSync(root, { recursive: true });
    const archive = execFileSync(
      'git',
      ['archive', known.commit, 'package.json', 'tsconfig.json', 'functions', 'drivers'],
      { cwd: REPO, maxBuffer: 64 * 1024 * 1024 },
    );
    execFileSync('tar', ['-x', '-C', root], { input: archive });
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
    return { name, label: known.label, commit: known.commit, root, ...follows };
  });
}
