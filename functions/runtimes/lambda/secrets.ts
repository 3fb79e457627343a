import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError, type Env, valueFromSecret } from '../../config.js';

/** The part of the Secrets Manager client this module uses; tests pass one pointed at moto. */
export type SecretsClient = Pick<SecretsManagerClient, 'send'>;

const SUFFIX = '_SECRET_ARN';

/**
 * Resolves every `ALERTFENCE_X_SECRET_ARN` into `ALERTFENCE_X` from AWS Secrets Manager, at run time: on Lambda
 * the bearer tokens and the journal key then live in a secret the function's role may read, never in a plain
 * environment variable that anyone allowed to read the function's configuration sees. A secret holds the
 * value as a `_FILE` does (a list one item a line or comma-separated). Setting both `X` and `X_SECRET_ARN` is
 * refused.
 *
 * @example
 * const env = await resolveSecretArns(process.env);
 */
export async function resolveSecretArns(env: Env, client?: SecretsClient): Promise<Env> {
  const wanted = Object.entries(env).filter(
    ([key, value]) => key.startsWith('ALERTFENCE_') && key.endsWith(SUFFIX) && value,
  );
  if (wanted.length === 0) return env;
  const secrets = client ?? new SecretsManagerClient({ maxAttempts: 3 });
  const resolved: Env = { ...env };
  for (const [key, arn] of wanted) {
    const name = key.slice(0, -SUFFIX.length);
    delete resolved[key];
    if (env[name]) throw new ConfigError(`set either ${name} or ${key}, not both`);
    try {
      const output = await secrets.send(new GetSecretValueCommand({ SecretId: arn }));
      if (output.SecretString === undefined) throw new Error('the secret has no string value');
      resolved[name] = valueFromSecret(name, output.SecretString);
    } catch (error) {
      // The ARN and the error's name are enough to fix it; the value never appears.
      const reason = error instanceof Error ? error.name : 'error';
      throw new ConfigError(
        `${key}: cannot read secret ${arn} (${reason}); check secretsmanager:GetSecretValue`,
        {
          cause: error,
        },
      );
    }
  }
  return resolved;
}
