/** The lambda section: what the Lambda runtime reads besides the core (continuations by self-invoke). */
import * as z from 'zod';
import { url } from './fields.js';

/** Where continuations go on Lambda. */
export interface LambdaSettings {
  /** `ALERTFENCE_WORKER_FUNCTION`: the function that runs continuations (the template sets the `live` alias). */
  workerFunction: string | undefined;
  /** `AWS_LAMBDA_FUNCTION_NAME`, set by Lambda: this function. */
  functionName: string | undefined;
  /** `AWS_LAMBDA_FUNCTION_VERSION`, set by Lambda: the version that is running. */
  functionVersion: string | undefined;
  /** `ALERTFENCE_LAMBDA_ENDPOINT`: another Lambda API (LocalStack, a VPC endpoint, the tests' stand-in). */
  endpoint: string | undefined;
  /** `AWS_REGION`, set by Lambda. */
  region: string | undefined;
}

export const lambdaSection = z
  .object({
    ALERTFENCE_WORKER_FUNCTION: z
      .string()
      .regex(/^[A-Za-z0-9_:$.-]+$/, 'must be a function name, name:qualifier or ARN')
      .optional(),
    AWS_LAMBDA_FUNCTION_NAME: z.string().optional(),
    AWS_LAMBDA_FUNCTION_VERSION: z.string().optional(),
    ALERTFENCE_LAMBDA_ENDPOINT: url().optional(),
    AWS_REGION: z.string().optional(),
  })
  .transform(
    ({
      ALERTFENCE_WORKER_FUNCTION: workerFunction,
      AWS_LAMBDA_FUNCTION_NAME: functionName,
      AWS_LAMBDA_FUNCTION_VERSION: functionVersion,
      ALERTFENCE_LAMBDA_ENDPOINT: endpoint,
      AWS_REGION: region,
    }): LambdaSettings => ({ workerFunction, functionName, functionVersion, endpoint, region }),
  );
