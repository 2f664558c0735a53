/** The API's own documentation: the spec as YAML and JSON, and Swagger UI at /docs. */
import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { ApiSpec } from '../spec.js';

export function docsRouter(spec: ApiSpec): Router {
  const router = Router();
  router.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(spec.text);
  });
  router.get('/openapi.json', (_req, res) => {
    res.json(spec.document);
  });
  router.use('/docs', swaggerUi.serve);
  router.get('/docs', swaggerUi.setup(spec.document, { customSiteTitle: 'alias-audit API' }));
  return router;
}
