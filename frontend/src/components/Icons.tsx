// Small inline icons (no icon fonts, no network). 16px, currentColor.
import type { SVGProps } from 'react'

type P = SVGProps<SVGSVGElement> & { size?: number }

function Svg({ size = 16, children, ...rest }: P & { children: React.ReactNode }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 16 16"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.5}
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
      {...rest}
    >
      {children}
    </svg>
  )
}

export const LockIcon = (p: P) => (
  <Svg {...p}>
    <rect x="3.5" y="7" width="9" height="6.5" rx="1.5" />
    <path d="M5.5 7V5a2.5 2.5 0 0 1 5 0v2" />
  </Svg>
)
export const ClockIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="8" r="5.5" />
    <path d="M8 5v3l2 1.5" />
  </Svg>
)
export const SnoozeIcon = (p: P) => (
  <Svg {...p}>
    <path d="M12.5 9.5A5 5 0 1 1 6.5 3.5a4 4 0 0 0 6 6Z" />
    <path d="M10 2.5h2.5L10 5h2.5" />
  </Svg>
)
export const BotIcon = (p: P) => (
  <Svg {...p}>
    <rect x="3" y="5.5" width="10" height="7.5" rx="2" />
    <path d="M8 5.5V3M6 9h.01M10 9h.01M1.5 9v1.5M14.5 9v1.5" />
  </Svg>
)
export const CheckIcon = (p: P) => (
  <Svg {...p}>
    <path d="M3.5 8.5l3 3 6-7" />
  </Svg>
)
export const AlertIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="8" r="5.5" />
    <path d="M8 5v3.5M8 11h.01" />
  </Svg>
)
export const SearchIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="7" cy="7" r="4" />
    <path d="M10 10l3.5 3.5" />
  </Svg>
)
export const CloseIcon = (p: P) => (
  <Svg {...p}>
    <path d="M4 4l8 8M12 4l-8 8" />
  </Svg>
)
export const InboxIcon = (p: P) => (
  <Svg {...p}>
    <path d="M2.5 9.5l1.5-6h8l1.5 6v3h-11z" />
    <path d="M2.5 9.5h3l1 1.5h3l1-1.5h3" />
  </Svg>
)
export const UserIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="5.5" r="2.5" />
    <path d="M3 13.5c.8-2.5 2.7-3.5 5-3.5s4.2 1 5 3.5" />
  </Svg>
)
export const UsersOffIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="5.5" r="2.5" strokeDasharray="2 1.5" />
    <path d="M3 13.5c.8-2.5 2.7-3.5 5-3.5s4.2 1 5 3.5" strokeDasharray="2 1.5" />
  </Svg>
)
export const CircleIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="8" r="5.5" />
  </Svg>
)
export const CheckCircleIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="8" r="5.5" />
    <path d="M5.5 8.2l1.8 1.8 3.2-3.6" />
  </Svg>
)
export const LayersIcon = (p: P) => (
  <Svg {...p}>
    <path d="M8 2.5l5.5 3-5.5 3-5.5-3z" />
    <path d="M2.5 8.5l5.5 3 5.5-3" />
  </Svg>
)
export const BookmarkIcon = (p: P) => (
  <Svg {...p}>
    <path d="M4.5 2.5h7v11l-3.5-2.5-3.5 2.5z" />
  </Svg>
)
export const GearIcon = (p: P) => (
  <Svg {...p}>
    <circle cx="8" cy="8" r="2" />
    <path d="M8 1.8v1.7M8 12.5v1.7M1.8 8h1.7M12.5 8h1.7M3.6 3.6l1.2 1.2M11.2 11.2l1.2 1.2M3.6 12.4l1.2-1.2M11.2 4.8l1.2-1.2" />
  </Svg>
)
export const PlusIcon = (p: P) => (
  <Svg {...p}>
    <path d="M8 3v10M3 8h10" />
  </Svg>
)
export const RetryIcon = (p: P) => (
  <Svg {...p}>
    <path d="M12.5 8a4.5 4.5 0 1 1-1.3-3.2" />
    <path d="M12.5 2.5v3h-3" />
  </Svg>
)
export const KeyboardIcon = (p: P) => (
  <Svg {...p}>
    <rect x="1.5" y="4" width="13" height="8" rx="1.5" />
    <path d="M4 6.5h.01M6.5 6.5h.01M9 6.5h.01M11.5 6.5h.01M5 9.5h6" />
  </Svg>
)
export const PanelIcon = (p: P) => (
  <Svg {...p}>
    <rect x="2" y="2.5" width="12" height="11" rx="1.5" />
    <path d="M10 2.5v11" />
  </Svg>
)
export const ThreadIcon = (p: P) => (
  <Svg {...p}>
    <path d="M3 4h10M3 8h7M3 12h4" />
  </Svg>
)
