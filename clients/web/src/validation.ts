// Client-side checks run before an upload, so users get an immediate, specific message instead of a
// round trip. The server validates again (magic numbers, pixel limits); these checks are only a courtesy.

/** The server's default upload limit (`--max-image-mb 10`, counted in MiB like the server does). */
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

export const ALLOWED_EXTENSIONS = ['.jpg', '.jpeg', '.png'] as const;
export const ALLOWED_MIME_TYPES = ['image/jpeg', 'image/png'] as const;

/** Value for `<input type="file" accept>`: extensions and MIME types, so every OS picker filters. */
export const ACCEPT_ATTRIBUTE = [...ALLOWED_EXTENSIONS, ...ALLOWED_MIME_TYPES].join(',');

export type ValidationResult = { ok: true } | { ok: false; message: string };

/** The parts of a `File` the checks need (keeps them testable without constructing big files). */
export interface FileLike {
  name: string;
  type: string;
  size: number;
}

export function fileExtension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot >= 0 ? name.slice(dot).toLowerCase() : '';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  // Rounded up, so a file just over the limit never reads as "10.0 MB; the limit is 10 MB".
  return `${(Math.ceil((bytes / (1024 * 1024)) * 10) / 10).toFixed(1)} MB`;
}

export function validateImageFile(file: FileLike): ValidationResult {
  const ext = fileExtension(file.name);
  const type = file.type.toLowerCase();
  const extOk = (ALLOWED_EXTENSIONS as readonly string[]).includes(ext);
  // Some platforms report an empty type for files they do not know; then the extension decides alone.
  // A non-empty type must also be allowed, so "photo.png" that is really a GIF is caught here.
  const typeOk = type === '' || (ALLOWED_MIME_TYPES as readonly string[]).includes(type);
  if (!extOk || !typeOk) {
    return {
      ok: false,
      message: `“${file.name}” is not a JPG or PNG image. Choose a .jpg, .jpeg or .png file.`,
    };
  }
  if (file.size === 0) {
    return { ok: false, message: `“${file.name}” is empty. Choose another image.` };
  }
  if (file.size > MAX_FILE_BYTES) {
    return {
      ok: false,
      message: `“${file.name}” is ${formatBytes(file.size)}; the limit is 10 MB. Choose a smaller image.`,
    };
  }
  return { ok: true };
}
