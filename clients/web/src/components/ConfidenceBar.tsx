import { useId } from 'react';
import { clampPercent, formatPercent, type Verdict } from '../format';

interface ConfidenceBarProps {
  /** Confidence in the verdict, 0-100 (values outside are clamped). */
  value: number;
  tone: Verdict;
  label?: string;
}

/** A 0-100% bar with the number beside it; exposed to assistive tech as an ARIA meter. */
export function ConfidenceBar({ value, tone, label = 'Confidence' }: ConfidenceBarProps) {
  const labelId = useId();
  const pct = clampPercent(value);
  const text = formatPercent(pct);
  return (
    <div className="confidence">
      <div className="confidence__header">
        <span id={labelId} className="confidence__label">
          {label}
        </span>
        <span className="confidence__value" data-testid="confidence-value">
          {text}
        </span>
      </div>
      <div
        className="confidence__track"
        role="meter"
        aria-labelledby={labelId}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(pct * 10) / 10}
        aria-valuetext={text}
        data-testid="confidence-bar"
      >
        <div className={`confidence__fill confidence__fill--${tone}`} style={{ width: `${pct}%` }} />
      </div>
    </div>
  );
}
