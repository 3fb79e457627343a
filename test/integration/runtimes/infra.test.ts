import { accessSync, constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, type Tags } from 'yaml';
import { checkAlertmanagerConfig } from '../../peers/alertmanager.js';
import { INSTALL_HINT, PeerMissingError, runCommand, tempDir, venvBin } from '../../peers/process.js';
import { promtool } from '../../peers/prometheus.js';
import { ROOT } from './support/bundles.js';

const infra = (path: string) => join(ROOT, 'infra', path);

/** CloudFormation's short-form functions, read as their plain argument (scalar, list or map). */
const CFN_TAGS: Tags = ['!Ref', '!Sub', '!GetAtt', '!If', '!Not', '!Equals', '!Join'].flatMap((tag) => [
  { tag, resolve: (value: string) => value },
  { tag, collection: 'seq' as const, resolve: (value: unknown) => value },
  { tag, collection: 'map' as const, resolve: (value: unknown) => value },
]);

/**
 * A tool of the peers' venv (`install.sh`: cfn-lint, sam), else from PATH; missing is a failure, not a skip.
 */
function venvTool(name: string): string {
  const candidates = [
    venvBin(name),
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name)),
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new PeerMissingError(
    `${name} is not installed (venv or PATH); install the test peers with: ${INSTALL_HINT}`,
  );
}

/** The SAM CLI's environment: no telemetry (the machine reaches no AWS endpoint), no update check. */
const SAM_ENV = { SAM_CLI_TELEMETRY: '0', SAM_CLI_DISABLE_VERSION_CHECK: '1' };

/** Every file under `dir` (relative path → bytes). */
async function filesUnder(dir: string, prefix = ''): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory()) for (const [name, bytes] of await filesUnder(dir, path)) files.set(name, bytes);
    else files.set(path, await readFile(join(dir, path)));
  }
  return files;
}

/** Every `ALERTFENCE_*` name the sources read, so a deployment file cannot set a misspelt one. */
async function knownSettings(): Promise<Set<string>> {
  const names = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.name.endsWith('.ts')) {
        for (const match of (await readFile(path, 'utf8')).matchAll(/ALERTFENCE_[A-Z0-9_]+/g))
          names.add(match[0]);
      }
    }
  };
  await walk(join(ROOT, 'functions'));
  await walk(join(ROOT, 'drivers'));
  // `NAME_FILE` is read for every `NAME` (functions/config.ts, resolveSecretFiles), and on Lambda
  // `NAME_SECRET_ARN` (functions/lambda-secrets.ts).
  for (const name of [...names]) names.add(`${name}_FILE`).add(`${name}_SECRET_ARN`);
  return names;
}

describe('infra/aws/template.yaml', () => {
  it('should pass cfn-lint', async () => {
    // Act
    const result = await runCommand(venvTool('cfn-lint'), [infra('aws/template.yaml')], {
      check: false,
      timeoutMs: 180_000,
    });

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
  });

  it('should pass sam validate --lint', async () => {
    // Act
    const result = await runCommand(
      venvTool('sam'),
      ['validate', '--lint', '--template-file', infra('aws/template.yaml')],
      { check: false, env: SAM_ENV, timeoutMs: 180_000 },
    );

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('is a valid SAM Template');
  });

  it('should make sam build package exactly the bundle that npm run build makes', async () => {
    // Arrange: the template beside a dist/ built by scripts/build.mjs (what `npm run build` runs), in a copy
    // of the layout, so the developer's own dist/ is neither used nor overwritten.
    const work = await tempDir('alertfence-sam-build');
    try {
      await mkdir(join(work.path, 'infra/aws'), { recursive: true });
      await copyFile(infra('aws/template.yaml'), join(work.path, 'infra/aws/template.yaml'));
      await runCommand(
        process.execPath,
        [join(ROOT, 'scripts/build.mjs'), '--outdir', join(work.path, 'dist'), '--only', 'lambda'],
        { cwd: ROOT, timeoutMs: 180_000 },
      );

      // Act
      const result = await runCommand(
        venvTool('sam'),
        [
          'build',
          '--template-file',
          join(work.path, 'infra/aws/template.yaml'),
          '--build-dir',
          join(work.path, '.aws-sam/build'),
        ],
        { cwd: work.path, check: false, env: SAM_ENV, timeoutMs: 180_000 },
      );

      // Assess
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      const built = await filesUnder(join(work.path, '.aws-sam/build/Function'));
      const bundled = await filesUnder(join(work.path, 'dist/lambda'));
      expect([...built.keys()].sort()).toEqual(['lambda.mjs', 'lambda.mjs.map']);
      expect([...built.keys()].sort()).toEqual([...bundled.keys()].sort());
      for (const [name, bytes] of built) expect(bytes.equals(bundled.get(name) as Buffer), name).toBe(true);
    } finally {
      await work.remove();
    }
  });

  it('should run the bundle on nodejs22.x behind a Function URL without IAM auth, and set only settings alertfence reads', async () => {
    // Arrange
    const text = await readFile(infra('aws/template.yaml'), 'utf8');
    const known = await knownSettings();

    // Act: CloudFormation tags (!Ref, !Sub…) are kept as plain values.
    const template = parse(text, {
      customTags: CFN_TAGS,
    }) as {
      Resources: {
        Function: {
          Properties: Record<string, unknown> & { Environment: { Variables: Record<string, unknown> } };
        };
      };
    };

    // Assess
    const fn = template.Resources.Function.Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Handler: 'lambda.handler',
      CodeUri: '../../dist/lambda',
      FunctionUrlConfig: { AuthType: 'NONE' },
    });
    const settings = Object.keys(fn.Environment.Variables).filter((name) => name.startsWith('ALERTFENCE_'));
    expect(settings.filter((name) => !known.has(name))).toEqual([]);
  });

  it('should cap concurrency, keep secrets out of the configuration, schedule the tick and keep failed continuations', async () => {
    // Arrange
    const text = await readFile(infra('aws/template.yaml'), 'utf8');

    // Act
    const template = parse(text, { customTags: CFN_TAGS }) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };

    // Assess: the Function URL is public, so the blast radius of a flood is capped and no token is in plain sight.
    const fn = template.Resources.Function?.Properties as Record<string, unknown> & {
      Environment: { Variables: Record<string, unknown> };
    };
    expect(fn.ReservedConcurrentExecutions).toBe('ReservedConcurrency');
    expect(Object.keys(fn.Environment.Variables)).not.toContain('ALERTFENCE_TOKENS');
    expect(Object.keys(fn.Environment.Variables)).not.toContain('ALERTFENCE_JOURNAL_KEY');
    expect(fn.Environment.Variables).toMatchObject({
      ALERTFENCE_TOKENS_SECRET_ARN: 'TokenSecret',
      ALERTFENCE_JOURNAL_KEY_SECRET_ARN: 'JournalKeySecret',
      // CloudFormation's own substitution (!Sub), not a JavaScript one.
      ALERTFENCE_WORKER_FUNCTION: ['$', '{AWS::StackName}:live'].join(''),
    });
    expect(fn.Events).toMatchObject({
      Tick: { Type: 'Schedule', Properties: { Input: '{"alertfence":"tick"}' } },
    });
    expect(fn.EventInvokeConfig).toMatchObject({
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Type: 'SQS', Destination: 'FailedContinuations.Arn' } },
    });
    expect(template.Resources.FailedContinuations?.Type).toBe('AWS::SQS::Queue');
  });
});

describe('infra/openfaas', () => {
  it('should have a stack.yml that parses, reads the token from an OpenFaaS secret, and sets only settings alertfence reads', async () => {
    // Arrange
    const known = await knownSettings();

    // Act
    const stack = parse(await readFile(infra('openfaas/stack.yml'), 'utf8')) as {
      provider: { name: string };
      functions: Record<
        string,
        {
          image: string;
          environment: Record<string, string>;
          secrets: string[];
          annotations: Record<string, string>;
        }
      >;
    };

    // Assess
    expect(stack.provider.name).toBe('openfaas');
    const fn = stack.functions.alertfence;
    expect(fn?.environment.ALERTFENCE_TOKENS_FILE).toBe('/var/openfaas/secrets/alertfence-tokens');
    expect(fn?.secrets).toContain('alertfence-tokens');
    expect(fn?.annotations['com.openfaas.serviceaccount']).toBe('alertfence');
    expect(fn?.environment.ALERTFENCE_JOURNAL_KEY_FILE).toBe('/var/openfaas/secrets/alertfence-journal-key');
    expect(fn?.secrets).toContain('alertfence-journal-key');
    // The scheduled tick, by the cron-connector (functions/runtimes/openfaas/handler.ts serves it on POST /).
    expect(fn?.annotations).toMatchObject({ topic: 'cron-function', schedule: expect.any(String) });
    const settings = Object.keys(fn?.environment ?? {}).filter((name) => name.startsWith('ALERTFENCE_'));
    expect(settings.filter((name) => !known.has(name))).toEqual([]);
  });

  it('should run the Node bundle behind of-watchdog in HTTP mode on the upstream port the function listens on', async () => {
    // Act
    const dockerfile = await readFile(infra('openfaas/Dockerfile'), 'utf8');

    // Assess
    expect(dockerfile).toMatch(
      /^FROM .*ghcr\.io\/openfaas\/of-watchdog:\$\{WATCHDOG_VERSION\} AS watchdog$/m,
    );
    expect(dockerfile).toMatch(/^COPY --from=watchdog \/fwatchdog \/usr\/bin\/fwatchdog$/m);
    expect(dockerfile).toMatch(/^FROM .*node:\$\{NODE_VERSION\}-alpine$/m);
    expect(dockerfile).toContain('fprocess="node --enable-source-maps openfaas.mjs"');
    expect(dockerfile).toContain('mode="http"');
    expect(dockerfile).toContain('upstream_url="http://127.0.0.1:3000"');
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    expect(dockerfile).toContain('RUN node scripts/build.mjs --only openfaas');
  });

  it('should bind an openfaas-fn ServiceAccount to the roles of infra/kubernetes', async () => {
    // Arrange
    const roles = new Set<string>();
    for (const file of await readdir(infra('kubernetes'))) {
      if (!file.endsWith('.yaml')) continue;
      for (const doc of parseAllDocuments(await readFile(infra(`kubernetes/${file}`), 'utf8'))) {
        const object = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
        if (object?.kind === 'Role' || object?.kind === 'ClusterRole')
          roles.add(`${object.kind}/${object.metadata?.name}`);
      }
    }

    // Act
    const objects = parseAllDocuments(await readFile(infra('openfaas/rbac.yaml'), 'utf8')).map(
      (doc) =>
        doc.toJS() as {
          kind: string;
          roleRef?: { kind: string; name: string };
          subjects?: Array<{ namespace: string; name: string }>;
        },
    );

    // Assess
    const bound = objects
      .filter((object) => object.roleRef)
      .map((object) => `${object.roleRef?.kind}/${object.roleRef?.name}`);
    expect(new Set(bound)).toEqual(roles);
    for (const object of objects.filter((candidate) => candidate.subjects)) {
      expect(object.subjects).toEqual([
        expect.objectContaining({ name: 'alertfence', namespace: 'openfaas-fn' }),
      ]);
    }
  });
});

describe('infra/prometheus and infra/alertmanager', () => {
  it('should pass promtool check rules', async () => {
    // Act
    const result = await promtool(['check', 'rules', infra('prometheus/alertfence-rules.yml')]);

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 3 rules found');
  });

  it('should pass promtool test rules', async () => {
    // Act
    const result = await promtool(['test', 'rules', 'alertfence-rules.test.yml'], {
      cwd: infra('prometheus'),
    });

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('should have an Alertmanager example that amtool accepts, grouped by node, with send_resolved and a credentials file', async () => {
    // Act
    const result = await checkAlertmanagerConfig(infra('alertmanager/alertmanager.yml'));
    const config = parse(await readFile(infra('alertmanager/alertmanager.yml'), 'utf8')) as {
      route: { routes: Array<Record<string, unknown>> };
      receivers: Array<{ name: string; webhook_configs?: Array<Record<string, unknown>> }>;
    };

    // Assess
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(config.route.routes[0]).toMatchObject({ receiver: 'alertfence', group_by: ['node'] });
    const webhook = config.receivers.find((receiver) => receiver.name === 'alertfence')?.webhook_configs?.[0];
    expect(webhook).toMatchObject({
      send_resolved: true,
      http_config: { authorization: { type: 'Bearer', credentials_file: expect.any(String) } },
    });
    expect(String(webhook?.url)).toMatch(/\/v1\/alerts$/);
  });
});
