import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { makePrediction, makeUncertainPrediction, TINY_PNG_BASE64 } from '../test/fixtures';
import { ImageOverlay } from './ImageOverlay';

describe('ImageOverlay', () => {
  it('draws one box per face in percent of image_width x image_height', () => {
    const result = makePrediction();
    const { container } = render(<ImageOverlay result={result} imageUrl="blob:test/1" />);

    const boxes = screen.getAllByTestId('face-box');
    expect(boxes).toHaveLength(2);
    // Face 1: (300,150)-(600,450) on 1200x600 -> x 25%, y 25%, 25% wide, 50% high.
    const rect = boxes[0]!.querySelector('.face-box__rect')!;
    expect(rect.getAttribute('x')).toBe('25%');
    expect(rect.getAttribute('y')).toBe('25%');
    expect(rect.getAttribute('width')).toBe('25%');
    expect(rect.getAttribute('height')).toBe('50%');
    expect(boxes[0]!.getAttribute('class')).toContain('face-box--fake');
    expect(boxes[0]!.textContent).toBe('1 · Deepfake 87.4%');
    expect(boxes[1]!.getAttribute('class')).toContain('face-box--real');
    expect(boxes[1]!.textContent).toBe('2 · Real 88%');

    // The frame keeps the server's aspect ratio, so the percent boxes match the picture.
    const frame = container.querySelector('.overlay__frame') as HTMLElement;
    expect(frame.style.aspectRatio).toBe('1200 / 600');
  });

  it('marks an Uncertain face in its own style and words, without a confidence it does not have', () => {
    render(<ImageOverlay result={makeUncertainPrediction()} imageUrl="blob:test/1" />);
    const boxes = screen.getAllByTestId('face-box');
    expect(boxes[0]!.getAttribute('class')).toContain('face-box--uncertain');
    expect(boxes[0]!.getAttribute('data-verdict')).toBe('Uncertain');
    expect(boxes[0]!.getAttribute('data-label')).toBe('Deepfake');
    expect(boxes[0]!.textContent).toBe('1 · Uncertain?');
    expect(boxes[1]!.getAttribute('class')).toContain('face-box--real');
  });

  it('stacks the heatmap over the image and the slider sets its opacity', () => {
    render(<ImageOverlay result={makePrediction()} imageUrl="blob:test/1" />);
    const heatmap = screen.getByTestId('heatmap-image') as HTMLImageElement;
    expect(heatmap.src).toBe(`data:image/png;base64,${TINY_PNG_BASE64}`);
    expect(heatmap.alt).toMatch(/Grad-CAM heatmap/);
    expect(heatmap.style.opacity).toBe('0.7');

    const slider = screen.getByLabelText('Heatmap opacity');
    expect(slider).toBe(screen.getByTestId('heatmap-opacity'));
    fireEvent.change(slider, { target: { value: '25' } });
    expect(heatmap.style.opacity).toBe('0.25');
    fireEvent.change(slider, { target: { value: '0' } });
    expect(heatmap.style.opacity).toBe('0');
    expect(screen.getByText('0%')).toBeTruthy();
  });

  it('has no heatmap or slider when none was requested', () => {
    render(
      <ImageOverlay result={makePrediction({ grad_cam_available: false, heatmap_png: '' })} imageUrl="blob:test/1" />,
    );
    expect(screen.queryByTestId('heatmap-image')).toBeNull();
    expect(screen.queryByTestId('heatmap-opacity')).toBeNull();
    expect(screen.getByText(/Grad-CAM was not requested/)).toBeTruthy();
  });

  it('can hide the face boxes', () => {
    render(<ImageOverlay result={makePrediction()} imageUrl="blob:test/1" />);
    fireEvent.click(screen.getByLabelText('Show face boxes'));
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
  });

  it('draws no boxes for an image without faces', () => {
    const { container } = render(
      <ImageOverlay result={makePrediction({ faces: [], face_found: false })} imageUrl="blob:test/1" />,
    );
    expect(screen.queryAllByTestId('face-box')).toHaveLength(0);
    expect(container.querySelector('svg.overlay__boxes')).toBeNull();
    expect(screen.queryByLabelText('Show face boxes')).toBeNull();
  });
});
