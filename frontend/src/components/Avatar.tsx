import { hueOf, initials } from '../lib/format'

export function Avatar({ id, name, size = 22, title }: { id: string; name: string; size?: number; title?: string }) {
  const hue = hueOf(id)
  return (
    <span
      className="avatar"
      title={title ?? name}
      aria-label={title ?? name}
      style={{
        width: size,
        height: size,
        fontSize: Math.round(size * 0.42),
        background: `hsl(${hue} 45% 88%)`,
        color: `hsl(${hue} 45% 25%)`,
      }}
    >
      {initials(name)}
    </span>
  )
}
