import { useId, useMemo, useState } from 'react';
import { heatmapDataUrl, type PredictResponse } from '../api';
import { formatPercent, verdictTone } from '../format';
import { boxToPercent, labelPlacement, pct } from '../overlayMath';

interface ImageOverlayProps {
  /** The answer; its `heatmap_png` ("" when none) is drawn over the image. */
  result: PredictResponse;
  /** blob: URL of the uploaded file. */
  imageUrl: string;
}

const DEFAULT_OPACITY = 70;

/**
 * The uploaded image with the Grad-CAM heatmap stacked on top (opacity slider) and the face boxes in an
 * SVG layer. All three layers fill one frame whose aspect ratio is the server's image_width/image_height,
 * so the percent-based boxes line up with the picture at every size.
 */
export function ImageOverlay({ result, imageUrl }: ImageOverlayProps) {
  const [opacity, setOpacity] = useState(DEFAULT_OPACITY);
  const [showBoxes, setShowBoxes] = useState(true);
  const sliderId = useId();
  const boxesId = useId();
  const heatmapUrl = useMemo(() => heatmapDataUrl(result.heatmap_png), [result.heatmap_png]);

  const { image_width: w, image_height: h, faces } = result;
  const hasSize = w > 0 && h > 0;
  const ratio = hasSize ? w / h : 4 / 3;
  const frameStyle = {
    aspectRatio: `${hasSize ? w : 4} / ${hasSize ? h : 3}`,
    // Tall images would push everything below the fold; cap the height, keep the ratio.
    maxWidth: `calc(var(--overlay-max-height) * ${ratio.toFixed(4)})`,
  };

  const boxes = faces.flatMap((face, i) => {
    const rect = boxToPercent(face.box, w, h);
    return rect ? [{ face, rect, n: i + 1 }] : [];
  });

  const faceWord = faces.length === 1 ? 'face' : 'faces';
  const alt = `Uploaded image ${result.filename}${faces.length ? ` with ${faces.length} ${faceWord} marked` : ''}`;

  return (
    <figure className="overlay">
      <div className="overlay__frame" style={frameStyle}>
        <img className="overlay__layer" src={imageUrl} alt={alt} />
        {heatmapUrl && (
          <img
            className="overlay__layer overlay__heatmap"
            src={heatmapUrl}
            alt="Grad-CAM heatmap: warmer colours mark the regions that most influenced the verdict"
            data-testid="heatmap-image"
            style={{ opacity: opacity / 100 }}
          />
        )}
        {showBoxes && boxes.length > 0 && (
          <svg className="overlay__boxes" aria-hidden="true" focusable="false">
            {boxes.map(({ face, rect, n }) => {
              const tone = verdictTone(face.verdict);
              const place = labelPlacement(rect);
              // An Uncertain face's confidence is in its two-valued label, not in "Uncertain": no number.
              const detail =
                tone === 'uncertain' ? ' · Uncertain?' : ` · ${face.verdict} ${formatPercent(face.confidence)}`;
              return (
                <g
                  key={n}
                  className={`face-box face-box--${tone}`}
                  data-testid="face-box"
                  data-label={face.label}
                  data-verdict={face.verdict}
                >
                  {/* A dark outline under the coloured one keeps the box visible on light and dark images. */}
                  <rect
                    className="face-box__halo"
                    x={pct(rect.x)}
                    y={pct(rect.y)}
                    width={pct(rect.width)}
                    height={pct(rect.height)}
                  />
                  <rect
                    className="face-box__rect"
                    x={pct(rect.x)}
                    y={pct(rect.y)}
                    width={pct(rect.width)}
                    height={pct(rect.height)}
                  />
                  <text
                    className="face-box__label"
                    x={pct(place.x)}
                    y={pct(place.y)}
                    dx={place.anchor === 'start' ? 2 : -2}
                    dy={place.inside ? 15 : -5}
                    textAnchor={place.anchor}
                  >
                    {n}
                    {/* Hidden on narrow frames (CSS container query), where captions would overlap;
                        the numbered table in the result lists every face in full. */}
                    <tspan className="face-box__detail">{detail}</tspan>
                  </text>
                </g>
              );
            })}
          </svg>
        )}
      </div>

      <figcaption className="overlay__controls">
        {heatmapUrl ? (
          <div className="slider">
            <label htmlFor={sliderId}>Heatmap opacity</label>
            <input
              id={sliderId}
              type="range"
              min={0}
              max={100}
              step={5}
              value={opacity}
              onChange={(e) => setOpacity(Number(e.target.value))}
              aria-valuetext={`${opacity}%`}
              data-testid="heatmap-opacity"
            />
            {/* Visible value only; the slider's aria-valuetext already tells screen readers. */}
            <span className="slider__value" aria-hidden="true">
              {opacity}%
            </span>
          </div>
        ) : (
          <p className="muted small">No heatmap: Grad-CAM was not requested for this analysis.</p>
        )}
        {boxes.length > 0 && (
          <label className="checkbox" htmlFor={boxesId}>
            <input
              id={boxesId}
              type="checkbox"
              checked={showBoxes}
              onChange={(e) => setShowBoxes(e.target.checked)}
            />
            Show face boxes
          </label>
        )}
      </figcaption>
    </figure>
  );
}
