import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useMediaQuery, useTheme } from '@mui/material';
import { useTranslate } from 'react-admin';
import type { DayPoint } from './stats';

export default function DeliveriesChart({ days }: { days: DayPoint[] }) {
  const theme = useTheme();
  const translate = useTranslate();
  // No growing bars for people who asked for less motion (and for stable screenshots).
  const animate = !useMediaQuery('(prefers-reduced-motion: reduce)');
  return (
    <ResponsiveContainer width="100%" height={260}>
      <BarChart data={days} margin={{ top: 8, right: 8, bottom: 0, left: -16 }}>
        <CartesianGrid strokeDasharray="3 3" stroke={theme.palette.divider} />
        <XAxis
          dataKey="date"
          tickFormatter={(d: string) => d.slice(5)}
          stroke={theme.palette.text.secondary}
          fontSize={12}
        />
        <YAxis allowDecimals={false} stroke={theme.palette.text.secondary} fontSize={12} />
        <Tooltip
          contentStyle={{
            background: theme.palette.background.paper,
            border: `1px solid ${theme.palette.divider}`,
          }}
        />
        <Legend />
        <Bar
          dataKey="sent"
          name={translate('np.status.sent')}
          stackId="d"
          isAnimationActive={animate}
          fill={theme.palette.success.main}
        />
        <Bar
          dataKey="failed"
          name={translate('np.status.failed')}
          stackId="d"
          isAnimationActive={animate}
          fill={theme.palette.warning.main}
        />
        <Bar
          dataKey="dead"
          name={translate('np.status.dead')}
          stackId="d"
          isAnimationActive={animate}
          fill={theme.palette.error.main}
        />
      </BarChart>
    </ResponsiveContainer>
  );
}
