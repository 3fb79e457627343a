// `npm start` on a fresh clone: install the locked dependencies once, so start-up is one command.
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('node_modules/.package-lock.json')) {
  process.stderr.write('alertfence: installing dependencies (npm install) …\n');
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit' });
}
