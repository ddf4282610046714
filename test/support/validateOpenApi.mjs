// Validates an OpenAPI 3.1 document read from stdin (the validator is an ES module; jest runs CommonJS).
import { Validator } from '@seriousme/openapi-schema-validator';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const result = await new Validator().validate(JSON.parse(text));
process.stdout.write(JSON.stringify({ valid: result.valid, version: new Validator().version, errors: result.errors ?? null }));
