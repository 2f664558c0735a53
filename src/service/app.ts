/**
 * The express app: security headers, metrics, auth, rate limits, OpenAPI validation (which also
 * streams uploads to disk), the routers, and the one problem+json error handler, in that order.
 */
import { join } from 'node:path';
import express, { Express, RequestHandler } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import helmet from 'helmet';
import type { ServiceConfig } from './config.js';
import { bearerAuth } from './http/auth.js';
import { notFound, problemHandler } from './http/problem.js';
import { rateLimits } from './http/rateLimit.js';
import { removeUploadsAfterResponse, uploadOptions } from './http/uploads.js';
import type { AuditService } from './jobs/auditService.js';
import type { ServiceMetrics } from './metrics.js';
import type { Readiness } from './readiness.js';
import { auditsRouter } from './routes/audits.js';
import { docsRouter } from './routes/docs.js';
import { eventsRouter } from './routes/events.js';
import { healthRouter } from './routes/health.js';
import { metricsRouter } from './routes/metrics.js';
import { runsRouter } from './routes/runs.js';
import { pagesRouter } from './web/pages.js';
import type { ApiSpec } from './spec.js';

export interface AppDeps {
  config: ServiceConfig;
  spec: ApiSpec;
  service: AuditService;
  readiness: Readiness;
  metrics: ServiceMetrics;
}

/** A response that broke its schema in openapi.yaml (collected when response validation is on). */
export interface ResponseViolation {
  method: string;
  path: string;
  status: number;
  message: string;
}

export interface ServiceApp {
  app: Express;
  /** Filled only with `config.validateResponses`; tests assert it stays empty. */
  responseViolations: ResponseViolation[];
}

/** Uploads land here before they are checked and moved. */
export function uploadDir(config: ServiceConfig): string {
  return join(config.dataDir, 'uploads');
}

function accessLog(): RequestHandler {
  return (req, res, next) => {
    const t0 = performance.now();
    res.on('finish', () => console.log(`${new Date().toISOString()} ${req.method} ${req.originalUrl} ${res.statusCode} ${(performance.now() - t0).toFixed(1)}ms`));
    next();
  };
}

export function createApp({ config, spec, service, readiness, metrics }: AppDeps): ServiceApp {
  const app = express();
  const responseViolations: ResponseViolation[] = [];
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  // No upgrade-insecure-requests: the service is often reached over plain HTTP inside a
  // cluster, where that directive would send Swagger UI's own assets to https and break /docs.
  app.use(helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } }));
  app.use(metrics.http);
  if (config.accessLog) app.use(accessLog());
  app.use(bearerAuth(config.apiKeys));
  app.use(rateLimits(config.rateLimit));
  app.use(removeUploadsAfterResponse);
  app.use(express.json({ limit: '16kb' })); // POST /runs; the validator checks bodies, it does not parse them
  app.use(
    OpenApiValidator.middleware({
      // The validator must not rewrite its $refs into our cached document.
      apiSpec: structuredClone(spec.document) as unknown as Parameters<typeof OpenApiValidator.middleware>[0]['apiSpec'],
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: config.validateResponses
        ? {
            onError: (err, _body, req) => {
              responseViolations.push({ method: req.method, path: req.originalUrl, status: req.res?.statusCode ?? 0, message: err.message });
              console.error(`alias-audit: response of ${req.method} ${req.originalUrl} breaks openapi.yaml: ${err.message}`);
            },
          }
        : false,
      validateSecurity: false, // bearerAuth above: keys are optional, and /healthz must stay cheap
      validateFormats: true,
      fileUploader: uploadOptions(uploadDir(config), config.maxUploadBytes),
      // Swagger UI's and our pages' assets are files, not API routes.
      ignorePaths: /^\/(docs|assets)\/./,
    }),
  );

  app.use(healthRouter(config, service, readiness));
  app.use(metricsRouter(metrics));
  app.use(docsRouter(spec));
  app.use(pagesRouter(service)); // before the API routers: it answers browsers on their paths, else passes on
  app.use(auditsRouter({ config, service, readiness, metrics }));
  app.use(eventsRouter(service));
  app.use(runsRouter({ config, service, readiness }));
  app.use(notFound);
  app.use(problemHandler);
  return { app, responseViolations };
}
