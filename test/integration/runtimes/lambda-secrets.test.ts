/**
 * On Lambda the bearer tokens and the journal key are read at run time from AWS Secrets Manager
 * (`ALERTFENCE_*_SECRET_ARN`), against moto's Secrets Manager over the wire, and the Lambda handler then
 * accepts a token that never was in its configuration.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../functions/config.js';
import { createLogger } from '../../../functions/log.js';
import { createLambdaHandler } from '../../../functions/runtimes/lambda/handler.js';
import { resolveSecretArns } from '../../../functions/runtimes/lambda/secrets.js';
import { FakeKube } from '../../fakes/kube.js';
import { type MotoServer, startMoto } from '../../peers/moto.js';
import { RecordingContinuation } from '../../support/fence-wiring.js';
import { functionUrlEvent, readFunctionUrlResult } from './support/lambda-events.js';

const TOKEN = 'secret-token-0123456789abcdef';
const JOURNAL_KEY = 'secret-journal-key-0123456789abcdef0123456789';

describe('Lambda secrets from Secrets Manager (moto)', () => {
  let moto: MotoServer;
  let client: SecretsManagerClient;
  let tokensArn: string;
  let keyArn: string;

  beforeAll(async () => {
    moto = await startMoto();
    client = new SecretsManagerClient({
      endpoint: moto.endpoint,
      region: moto.region,
      credentials: moto.credentials,
    });
    tokensArn =
      (
        await client.send(
          new CreateSecretCommand({
            Name: 'alertfence-tokens',
            SecretString: `${TOKEN}\nold-token-0123456789abcdef`,
          }),
        )
      ).ARN ?? '';
    keyArn =
      (await client.send(new CreateSecretCommand({ Name: 'alertfence-key', SecretString: JOURNAL_KEY })))
        .ARN ?? '';
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.stop();
  });

  it('should read every ALERTFENCE_*_SECRET_ARN into its variable, one value a line', async () => {
    // Act
    const env = await resolveSecretArns(
      { ALERTFENCE_TOKENS_SECRET_ARN: tokensArn, ALERTFENCE_JOURNAL_KEY_SECRET_ARN: keyArn, OTHER: 'x' },
      client,
    );

    // Assess
    expect(env).toEqual({
      ALERTFENCE_TOKENS: `${TOKEN},old-token-0123456789abcdef`,
      ALERTFENCE_JOURNAL_KEY: JOURNAL_KEY,
      OTHER: 'x',
    });
  });

  it('should refuse a secret it cannot read with the ARN and the reason, never a value', async () => {
    // Act
    const reading = resolveSecretArns({ ALERTFENCE_TOKENS_SECRET_ARN: `${tokensArn}-missing` }, client);

    // Assess
    await expect(reading).rejects.toBeInstanceOf(ConfigError);
    await expect(reading).rejects.toThrow(
      /ALERTFENCE_TOKENS_SECRET_ARN: cannot read secret .*ResourceNotFoundException/,
    );
  });

  it('should refuse both a variable and its secret', async () => {
    // Act
    const reading = resolveSecretArns(
      { ALERTFENCE_TOKENS: TOKEN, ALERTFENCE_TOKENS_SECRET_ARN: tokensArn },
      client,
    );

    // Assess
    await expect(reading).rejects.toThrow(
      'set either ALERTFENCE_TOKENS or ALERTFENCE_TOKENS_SECRET_ARN, not both',
    );
  });

  it('should authenticate a Function URL request with a token read from the secret', async () => {
    // Prepare
    const kube = new FakeKube();
    const handler = createLambdaHandler(
      {
        ALERTFENCE_TOKENS_SECRET_ARN: tokensArn,
        ALERTFENCE_JOURNAL_KEY_SECRET_ARN: keyArn,
        ALERTFENCE_DRY_RUN: 'false',
        ALERTFENCE_DRIVERS: 'simulated',
      },
      {
        kube,
        drivers: [],
        secrets: client,
        continuation: new RecordingContinuation(),
        log: createLogger({ write: () => {} }),
      },
    );
    const context = { awsRequestId: 'r-1', getRemainingTimeInMillis: () => 30_000 } as never;

    // Act
    const allowed = readFunctionUrlResult(
      await handler(functionUrlEvent('GET', '/v1/nodes/worker-1/fence', { token: TOKEN }), context),
    );
    const refused = readFunctionUrlResult(
      await handler(
        functionUrlEvent('GET', '/v1/nodes/worker-1/fence', { token: 'wrong-token-0123456789' }),
        context,
      ),
    );

    // Assess: 404 (no fence recorded) means the token was accepted.
    expect(allowed.statusCode).toBe(404);
    expect(refused.statusCode).toBe(401);
  });
});
