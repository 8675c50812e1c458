"""A seeded simulation of a creator platform's account behaviour, labelled. SYNTHETIC DATA.

No labelled account data set ships offline, so the demo and the benchmarks use this generator. Every
figure computed from it is about simulated behaviour and must say so. Given the same seed and sizes it
produces the same events, byte for byte.

Who it simulates, over ``hours`` ending at ``end``:

- **ordinary** users with a daily rhythm (active in their own waking hours), one or two devices, a home
  network, now and then a mistyped password, payments that mostly succeed, a rare e-mail change, and
  modest page views. A few get a new phone and change their e-mail from it: the honest false positives.
- **fake_account** rings: 5 to 25 sign-ups within an hour or two from a few shared devices and one
  network, then messages (spam).
- **takeover** victims: an ordinary history, then a credential-stuffing burst of failed logins from
  rotating IPs, a successful login from a new device in another country, and within minutes a changed
  e-mail and payout address.
- **fraud** (card testing): many small payments, mostly failing, each with a different card, sometimes
  from accounts sharing a device; a few charge-backs.
- **scraping** clients: traffic summaries with high request rates across many creators' pages.

Events are dicts in the shape ``POST /api/v1/events`` takes; labels map each account to its kind.
"""

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

KINDS = ("ordinary", "fake_account", "takeover", "fraud", "scraping")
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "BR", "IN", "JP", "CA", "ES", "IT", "PL", "SE", "MX", "AU"]
FAR_COUNTRIES = ["RU", "VN", "NG", "ID", "UA", "RO", "CN"]


@dataclass(frozen=True)
class Sizes:
    ordinary: int = 2000
    rings: int = 8
    takeovers: int = 40
    card_testers: int = 30
    scrapers: int = 15

    @classmethod
    def tiny(cls) -> "Sizes":
        return cls(ordinary=60, rings=2, takeovers=3, card_testers=3, scrapers=2)


@dataclass
class Simulation:
    """The simulated events (time order) and the truth about every account (``labels[external_id]``)."""

    source: str
    events: list[dict] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    def accounts_of(self, kind: str) -> list[str]:
        return [account for account, label in self.labels.items() if label == kind]


class _Builder:
    def __init__(self, seed: int, source: str, start: datetime, end: datetime) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.sim = Simulation(source=source)
        self.start, self.end = start, end
        self.span = (end - start).total_seconds()
        self.serial = 0

    def emit(self, account: str, type: str, at: datetime, **fields) -> None:
        if not self.start <= at <= self.end:
            return
        self.serial += 1
        body = {
            "id": f"sim{self.seed}-{self.serial}",
            "source": self.sim.source,
            "account": account,
            "type": type,
            "occurred_at": at.isoformat(),
        }
        body.update({key: value for key, value in fields.items() if value is not None})
        self.sim.events.append(body)

    def at(self, fraction: float) -> datetime:
        return self.start + timedelta(seconds=self.span * fraction)

    def ip(self, network: tuple[int, int, int] | None = None) -> str:
        a, b, c = network or (self.rng.randint(11, 223), self.rng.randint(0, 255), self.rng.randint(0, 255))
        return f"{a}.{b}.{c}.{self.rng.randint(1, 254)}"

    def network(self) -> tuple[int, int, int]:
        return (self.rng.randint(11, 223), self.rng.randint(0, 255), self.rng.randint(0, 255))

    def token(self, prefix: str) -> str:
        return f"{prefix}-{self.rng.getrandbits(48):012x}"


def simulate(*, seed: int, end: datetime, hours: int = 24, sizes: Sizes | None = None, source: str = "") -> Simulation:
    """Simulate ``hours`` of the platform ending at ``end``; the same seed gives the same events."""
    sizes = sizes or Sizes()
    b = _Builder(seed, source or f"sim{seed}.creatorhub", end - timedelta(hours=hours), end)
    for n in range(sizes.ordinary):
        _ordinary(b, f"user-{n}")
    for n in range(sizes.rings):
        _ring(b, n)
    for n in range(sizes.takeovers):
        _takeover(b, f"victim-{n}")
    for n in range(sizes.card_testers):
        _card_tester(b, f"carder-{n}")
    for n in range(sizes.scrapers):
        _scraper(b, f"scraper-{n}")
    b.sim.events.sort(key=lambda e: (e["occurred_at"], e["id"]))
    return b.sim


def _ordinary(b: _Builder, account: str, *, label: str = "ordinary") -> dict:
    rng = b.rng
    b.sim.labels[account] = label
    country = rng.choice(COUNTRIES)
    home = b.network()
    devices = [b.token("dev") for _ in range(rng.choice([1, 1, 2]))]
    card = b.token("card")
    wake = rng.uniform(0, 0.6)  # the account's waking hours as a share of the day
    if rng.random() < 0.05:  # a few sign up during the simulated period
        b.emit(account, "signup", b.at(rng.uniform(0, 0.5)), ip=b.ip(home), device_id=devices[0], country=country)
    sessions = rng.randint(1, 6)
    for _ in range(sessions):
        at = b.at(min(1.0, wake + rng.uniform(0, 0.4)))
        device = rng.choice(devices)
        ip = b.ip(home) if rng.random() < 0.85 else b.ip()  # sometimes from a café or a phone network
        if rng.random() < 0.08:
            b.emit(
                account,
                "login_failed",
                at - timedelta(seconds=40),
                ip=ip,
                device_id=device,
                country=country,
                outcome="bad_password",
            )
        b.emit(account, "login_succeeded", at, ip=ip, device_id=device, country=country)
        for _ in range(rng.randint(0, 3)):
            b.emit(account, "message_sent", at + timedelta(minutes=rng.uniform(1, 30)), ip=ip, device_id=device)
        if rng.random() < 0.3:
            ok = rng.random() > 0.04
            b.emit(
                account,
                "payment_succeeded" if ok else "payment_failed",
                at + timedelta(minutes=rng.uniform(1, 20)),
                ip=ip,
                device_id=device,
                payment_fingerprint=card,
                amount=f"{rng.choice([5, 10, 20, 50])}.00",
                currency="USD",
            )
        if rng.random() < 0.5:
            b.emit(
                account,
                "traffic_summary",
                at + timedelta(minutes=30),
                ip=ip,
                device_id=device,
                request_count=rng.randint(10, 400),
                distinct_creators=rng.randint(1, 25),
                window_seconds=3600,
            )
    if rng.random() < 0.01:  # a new phone, and the e-mail changed from it: looks like a takeover, is not one
        at = b.at(rng.uniform(0.3, 0.9))
        phone = b.token("dev")
        b.emit(account, "login_succeeded", at, ip=b.ip(home), device_id=phone, country=country)
        b.emit(account, "email_changed", at + timedelta(minutes=rng.uniform(2, 20)), ip=b.ip(home), device_id=phone)
    return {"devices": devices, "home": home, "country": country}


def _ring(b: _Builder, n: int) -> None:
    rng = b.rng
    size = rng.randint(5, 25)
    devices = [b.token("farm") for _ in range(rng.randint(1, 3))]
    network = b.network()
    country = rng.choice(COUNTRIES)
    start = rng.uniform(0, 0.8)
    for member in range(size):
        account = f"ring{n}-{member}"
        b.sim.labels[account] = "fake_account"
        at = b.at(start) + timedelta(minutes=rng.uniform(0, 90))
        device = rng.choice(devices)
        ip = b.ip(network)
        b.emit(account, "signup", at, ip=ip, device_id=device, country=country)
        b.emit(account, "login_succeeded", at + timedelta(minutes=1), ip=ip, device_id=device, country=country)
        for k in range(rng.randint(2, 15)):
            b.emit(
                account, "message_sent", at + timedelta(minutes=2 + k * rng.uniform(0.2, 3)), ip=ip, device_id=device
            )


def _takeover(b: _Builder, account: str) -> None:
    rng = b.rng
    _ordinary(b, account, label="takeover")
    at = b.at(rng.uniform(0.35, 0.9))
    for k in range(rng.randint(3, 25)):  # credential stuffing: rotating addresses, a few tries each
        b.emit(
            account,
            "login_failed",
            at - timedelta(seconds=20 * k),
            ip=b.ip(),
            country=rng.choice(FAR_COUNTRIES),
            outcome="bad_password",
        )
    attacker = b.token("dev")
    attacker_ip = b.ip()
    country = rng.choice(FAR_COUNTRIES)
    b.emit(account, "login_succeeded", at + timedelta(seconds=30), ip=attacker_ip, device_id=attacker, country=country)
    # Most take over the e-mail and payout at once; some wait longer than the takeover window.
    gap = timedelta(minutes=rng.uniform(1, 12) if rng.random() < 0.85 else rng.uniform(45, 180))
    b.emit(account, "email_changed", at + gap, ip=attacker_ip, device_id=attacker, country=country)
    b.emit(
        account, "payout_changed", at + gap + timedelta(minutes=2), ip=attacker_ip, device_id=attacker, country=country
    )


def _card_tester(b: _Builder, account: str) -> None:
    rng = b.rng
    b.sim.labels[account] = "fraud"
    device = b.token("dev")
    ip = b.ip()
    at = b.at(rng.uniform(0, 0.85))
    b.emit(account, "signup", at - timedelta(minutes=rng.uniform(5, 120)), ip=ip, device_id=device, country="US")
    tries = rng.randint(4, 40)
    for k in range(tries):
        ok = rng.random() < 0.15
        b.emit(
            account,
            "payment_succeeded" if ok else "payment_failed",
            at + timedelta(seconds=25 * k),
            ip=ip,
            device_id=device,
            payment_fingerprint=b.token("card"),
            amount=f"{rng.choice([0.5, 1, 1, 2]):.2f}",
            currency="USD",
            outcome=None if ok else rng.choice(["card_declined", "incorrect_cvc", "expired_card"]),
        )
    for k in range(rng.randint(0, 3)):
        b.emit(
            account,
            "payment_charged_back",
            at + timedelta(hours=2 + k),
            payment_fingerprint=b.token("card"),
            amount="1.00",
            currency="USD",
        )


def _scraper(b: _Builder, account: str) -> None:
    rng = b.rng
    b.sim.labels[account] = "scraping"
    device = b.token("bot")
    start = rng.uniform(0, 0.7)
    windows = rng.randint(2, 12)
    rate = rng.uniform(0.3, 1.0)
    for k in range(windows):
        b.emit(
            account,
            "traffic_summary",
            b.at(start) + timedelta(hours=k * 0.5),
            ip=b.ip(),
            device_id=device,
            request_count=int(rng.randint(2000, 30000) * rate),
            distinct_creators=int(rng.randint(150, 3000) * rate),
            window_seconds=1800,
        )
