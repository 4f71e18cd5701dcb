// Geometry for the face-box overlay. Boxes arrive in pixels of the uploaded image (after EXIF
// orientation); the overlay draws them in percent of the image, so they stay aligned at any displayed
// size without measuring the layout or listening for resizes.

import type { Box } from './api';

/** A rectangle in percent (0-100) of the image's width and height. */
export interface PercentRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** Converts a pixel box to percent of the image, clipped to the image; null when nothing is left. */
export function boxToPercent(box: Box, imageWidth: number, imageHeight: number): PercentRect | null {
  if (!(imageWidth > 0) || !(imageHeight > 0)) return null;
  // Detectors can return boxes that reach past the border; clip so the outline stays on the picture.
  const x0 = clamp(Math.min(box.x_min, box.x_max), 0, imageWidth);
  const x1 = clamp(Math.max(box.x_min, box.x_max), 0, imageWidth);
  const y0 = clamp(Math.min(box.y_min, box.y_max), 0, imageHeight);
  const y1 = clamp(Math.max(box.y_min, box.y_max), 0, imageHeight);
  if (x1 - x0 <= 0 || y1 - y0 <= 0) return null;
  return {
    x: (x0 / imageWidth) * 100,
    y: (y0 / imageHeight) * 100,
    width: ((x1 - x0) / imageWidth) * 100,
    height: ((y1 - y0) / imageHeight) * 100,
  };
}

export interface LabelPlacement {
  /** Percent of the image width / height. */
  x: number;
  y: number;
  anchor: 'start' | 'end';
  /** Above the box, or inside its top edge when the box touches the top of the image. */
  inside: boolean;
}

/** Where a box's caption goes so it stays on the image: left- or right-aligned, above or inside. */
export function labelPlacement(rect: PercentRect): LabelPlacement {
  const rightHalf = rect.x + rect.width / 2 > 60;
  const inside = rect.y < 8;
  return {
    x: rightHalf ? rect.x + rect.width : rect.x,
    y: rect.y,
    anchor: rightHalf ? 'end' : 'start',
    inside,
  };
}

export function pct(v: number): string {
  return `${Number(v.toFixed(3))}%`;
}
