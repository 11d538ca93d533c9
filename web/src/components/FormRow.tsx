import type { ReactNode } from 'react';
import { Box } from '@mui/material';

/** Inputs side by side on wide screens, stacked on a phone (react-admin inputs are full width by default). */
export function FormRow({ children }: { children: ReactNode }) {
  return (
    <Box
      sx={{
        display: 'flex',
        flexWrap: 'wrap',
        columnGap: 2,
        width: '100%',
        '& > .MuiFormControl-root, & > .MuiTextField-root': { flex: '1 1 200px', width: 'auto' },
      }}
    >
      {children}
    </Box>
  );
}
