#!/usr/bin/env node
// The `alertfence` command (package.json `bin`). In a clone of the repository it runs the TypeScript source
// through tsx (installed by `npm ci`), so it is never older than the code beside it. In an installed package,
// where neither the source nor tsx is, it runs the bundle that `npm pack` built (`prepack`):
// dist/cli/alertfence.mjs, one file that needs nothing but Node.
import { existsSync } from 'node:fs';

const source = new URL('../cli/main.ts', import.meta.url);
const bundle = new URL('../dist/cli/alertfence.mjs', import.meta.url);

async function tsx() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return undefined;
  }
}

const api = existsSync(source) ? await tsx() : undefined;
if (api) {
  api.register();
  await import(source.href);
} else if (existsSync(bundle)) {
  await import(bundle.href);
} else {
  process.stderr.write(
    'alertfence: neither the source with tsx (npm ci) nor the bundle (npm run build:cli) is here\n',
  );
  process.exitCode = 2;
}
