/**
 * YAML of configuration files (a kubeconfig, clouds.yaml, the Redfish mapping), read with js-yaml, the parser
 * `@kubernetes/client-node` brings anyway, in its core schema: plain strings, numbers, booleans and nulls, no
 * dates or binaries. A syntax error says only where it is: the parser's own message quotes the offending line,
 * which can hold a token or a password.
 */
import { CORE_SCHEMA, load } from 'js-yaml';

export class YamlSyntaxError extends Error {
  override name = 'YamlSyntaxError';
  /** ` at line L, column C` (1-based), or empty when the parser gave no position. */
  readonly where: string;
  constructor(position: { line: number; column: number } | undefined) {
    const where = position ? ` at line ${position.line + 1}, column ${position.column + 1}` : '';
    super(`YAML syntax error${where}`);
    this.where = where;
  }
}

/** The one document of `text`; throws `YamlSyntaxError` (several documents are an error too). */
export function parseYaml(text: string): unknown {
  try {
    return load(text, { schema: CORE_SCHEMA });
  } catch (error) {
    throw new YamlSyntaxError((error as { mark?: { line: number; column: number } }).mark);
  }
}
