import { describe, expect, it } from 'vitest';
import { boxToPercent, labelPlacement, pct } from './overlayMath';

describe('boxToPercent', () => {
  it('converts pixel boxes to percent of the image', () => {
    // The README example: a 1200x630 photo with a face at (859.2, 437) - (954.1, 559.3).
    const r = boxToPercent({ x_min: 859.2, y_min: 437, x_max: 954.1, y_max: 559.3 }, 1200, 630)!;
    expect(r.x).toBeCloseTo(71.6, 6);
    expect(r.y).toBeCloseTo(69.365, 3);
    expect(r.width).toBeCloseTo(7.908, 3);
    expect(r.height).toBeCloseTo(19.413, 3);
  });

  it('lands on the same displayed pixels at any display size', () => {
    const r = boxToPercent({ x_min: 300, y_min: 150, x_max: 600, y_max: 450 }, 1200, 600)!;
    // Displayed at 600x300 (half size) and at 375x187.5 (a phone): percent x display size.
    for (const [dw, dh] of [
      [600, 300],
      [375, 187.5],
    ] as const) {
      const scale = dw / 1200;
      expect((r.x / 100) * dw).toBeCloseTo(300 * scale);
      expect((r.y / 100) * dh).toBeCloseTo(150 * scale);
      expect((r.width / 100) * dw).toBeCloseTo(300 * scale);
      expect((r.height / 100) * dh).toBeCloseTo(300 * scale);
    }
  });

  it('clips boxes that reach past the image and normalises swapped corners', () => {
    expect(boxToPercent({ x_min: -20, y_min: -10, x_max: 100, y_max: 50 }, 200, 100)).toEqual({
      x: 0,
      y: 0,
      width: 50,
      height: 50,
    });
    expect(boxToPercent({ x_min: 100, y_min: 50, x_max: 0, y_max: 0 }, 200, 100)).toEqual({
      x: 0,
      y: 0,
      width: 50,
      height: 50,
    });
  });

  it('drops empty boxes and unknown image sizes', () => {
    expect(boxToPercent({ x_min: 10, y_min: 10, x_max: 10, y_max: 50 }, 200, 100)).toBeNull();
    expect(boxToPercent({ x_min: 300, y_min: 10, x_max: 400, y_max: 50 }, 200, 100)).toBeNull();
    expect(boxToPercent({ x_min: 0, y_min: 0, x_max: 10, y_max: 10 }, 0, 100)).toBeNull();
  });
});

describe('labelPlacement', () => {
  it('puts the caption above the box, left-aligned', () => {
    expect(labelPlacement({ x: 10, y: 40, width: 20, height: 20 })).toEqual({
      x: 10,
      y: 40,
      anchor: 'start',
      inside: false,
    });
  });

  it('right-aligns captions of boxes on the right and moves them inside at the top edge', () => {
    expect(labelPlacement({ x: 80, y: 2, width: 15, height: 20 })).toEqual({
      x: 95,
      y: 2,
      anchor: 'end',
      inside: true,
    });
  });
});

describe('pct', () => {
  it('formats SVG percent lengths', () => {
    expect(pct(25)).toBe('25%');
    expect(pct(100 / 3)).toBe('33.333%');
  });
});
