"""How report figures are written wherever they are shown: on the page, in CSV, in mail."""


def duration(seconds) -> str:
    """Seconds as "42s", "12m", "1h 05m" or "2d 3h"; an em dash when there is no value."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if hours >= 24:
        return f"{hours // 24}d {hours % 24}h"
    if hours:
        return f"{hours}h {minutes % 60:02d}m"
    return f"{minutes}m"
