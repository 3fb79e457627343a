import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { PeerMissingError, peerCacheDir } from '../../../peers/process.js';

/**
 * A runtime component that the real-runtime suites (`test/emulators/`) run the functions under: the Lambda
 * Runtime Interface Emulator, which `test/peers/go/build.sh` builds, or of-watchdog, which the Go module proxy
 * refuses and which has to be provided by hand.
 */
export interface RuntimeBinary {
  /** The file name in the peers' bin directory, e.g. `aws-lambda-rie`. */
  name: string;
  /** The variable that points at a binary anywhere else, e.g. `ALERTFENCE_RIE_BIN`. */
  envVar: string;
  /** The Go module it is built from. */
  module: string;
  /** How to get it, for the message of a suite that finds it missing. */
  howToGet: string;
}

/** `$ALERTFENCE_CACHE/bin/<name>` (default `~/.cache/alertfence/bin/<name>`). */
export function binDirPath(binary: RuntimeBinary): string {
  return join(peerCacheDir(), 'bin', binary.name);
}

/**
 * The binary's path: `$<envVar>` when set, else the peers' bin directory. Throws a {@link PeerMissingError}
 * that says how to get it, so a suite without it fails, never skips.
 *
 * @example
 * const command = requireRuntimeBinary({ name: 'of-watchdog', envVar: 'ALERTFENCE_WATCHDOG_BIN', module });
 */
export function requireRuntimeBinary(binary: RuntimeBinary): string {
  const fromEnv = process.env[binary.envVar];
  const path = fromEnv || binDirPath(binary);
  try {
    accessSync(path, constants.X_OK);
    return path;
  } catch (error) {
    throw new PeerMissingError(
      [
        `${binary.name} is missing or not executable at ${path}${fromEnv ? ` (from ${binary.envVar})` : ''}.`,
        binary.howToGet,
        `Or set ${binary.envVar}=/path/to/${binary.name}. See test/emulators/README.md.`,
      ].join(' '),
      { cause: error },
    );
  }
}
