/** The metrics section: who may read `/metrics`, and the service name of the Lambda's EMF metrics. */
import * as z from 'zod';
import { bool } from './fields.js';

export interface MetricsSettings {
  /** `ALERTFENCE_METRICS_PUBLIC`: `/metrics` answers without a bearer token (a scraper inside the cluster). */
  public: boolean;
  /**
   * The EMF `Service` dimension on Lambda: the function's name (`AWS_LAMBDA_FUNCTION_NAME`), since each
   * cluster's alertfence is its own function and its name tells their metrics apart in one account.
   */
  service: string;
}

export const metricsSection = z
  .object({
    ALERTFENCE_METRICS_PUBLIC: bool('ALERTFENCE_METRICS_PUBLIC').default(false),
    AWS_LAMBDA_FUNCTION_NAME: z.string().default('alertfence'),
  })
  .transform(
    (c): MetricsSettings => ({ public: c.ALERTFENCE_METRICS_PUBLIC, service: c.AWS_LAMBDA_FUNCTION_NAME }),
  );
