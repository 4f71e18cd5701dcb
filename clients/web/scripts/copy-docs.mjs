// Puts Swagger UI (from the swagger-ui-dist package) and our page into dist/docs/, served at /docs/.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "docs");
const swagger = join(root, "node_modules", "swagger-ui-dist");
mkdirSync(out, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "index.css",
                    "favicon-32x32.png"]) {
  copyFileSync(join(swagger, file), join(out, file));
}
for (const file of ["index.html", "swagger-initializer.js"]) {
  copyFileSync(join(root, "docs", file), join(out, file));
}
console.log(`API docs copied to ${out}`);
