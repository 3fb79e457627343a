// `npm start` on a fresh clone: install the locked dependencies once (`npm ci`: exactly package-lock.json),
// so start-up is one command.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('node_modules/.package-lock.json')) {
  process.stderr.write('alertfence: installing the locked dependencies (npm ci) …\n');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
