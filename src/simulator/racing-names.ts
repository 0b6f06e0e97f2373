/**
 * Names for a plausible UK racing card. Venues are real British racecourses,
 * upper-case as Tote's venue filters spell them; the all-weather tracks are the
 * ones that race under lights in the evening.
 */
export const DAY_VENUES: readonly string[] = [
  'BATH',
  'ASCOT',
  'SANDOWN PARK',
  'NEWMARKET',
  'YORK',
  'DONCASTER',
  'HAYDOCK PARK',
  'CHELTENHAM',
  'BRIGHTON',
  'CHEPSTOW',
  'LEICESTER',
  'NOTTINGHAM',
  'PONTEFRACT',
  'REDCAR',
  'RIPON',
  'THIRSK',
  'CATTERICK BRIDGE',
  'CARLISLE',
  'MUSSELBURGH',
  'AYR',
  'HAMILTON PARK',
  'FFOS LAS',
  'EPSOM DOWNS',
  'GOODWOOD',
  'SALISBURY',
  'WARWICK',
  'WETHERBY',
  'EXETER',
  'TAUNTON',
  'FONTWELL PARK',
  'PLUMPTON',
  'HUNTINGDON',
  'UTTOXETER',
  'LUDLOW',
  'SEDGEFIELD',
  'WINDSOR',
];

export const EVENING_VENUES: readonly string[] = [
  'KEMPTON PARK',
  'WOLVERHAMPTON',
  'CHELMSFORD CITY',
  'NEWCASTLE',
  'SOUTHWELL',
  'LINGFIELD PARK',
];

const PREFIXES = [
  'Miss',
  'Lady',
  'Sir',
  'King',
  'Queen',
  'The',
  'Captain',
  'Little',
  'Golden',
  'Silver',
  'Royal',
  'Dark',
  'Wild',
  'Lucky',
  'Night',
  'Summer',
  'Winter',
  'Desert',
  'Storm',
  'Mister',
  'Highland',
  'Emerald',
  'Midnight',
  'Rosie',
  'Brave',
  'Secret',
  'Dancing',
  'Silent',
];

const NOUNS = [
  'Rocker',
  'Dancer',
  'Legend',
  'Echo',
  'Spirit',
  'Thunder',
  'Harbour',
  'Jewel',
  'Raider',
  'Charm',
  'Arrow',
  'Breeze',
  'Shadow',
  'Melody',
  'Voyage',
  'Warrior',
  'Whisper',
  'Empire',
  'Falcon',
  'Comet',
  'Mischief',
  'Sovereign',
  'Rebel',
  'Promise',
  'Tempest',
  'Meadow',
  'Lantern',
  'Heiress',
  'Gambler',
  'Outlaw',
];

const SINGLE = [
  'Ajyad',
  'Al Tarfa',
  'Ala Kaifi',
  'Zabeel',
  'Nashwa',
  'Tahiyra',
  'Mostahdaf',
  'Inspiral',
  'Kinross',
  'Shamardal',
  'Alflaila',
  'Qirat',
  'Bayside Boy',
  'Checkandchallenge',
  'Miss Dolly Rocker',
  'The Famous Mrs B',
  'Sea The Moon',
  'Dubai Honour',
  'Isle Of Jura',
  'Kingofthecotswolds',
  'Pied Piper',
  'Rhythm N Hooves',
];

const SPONSORS = [
  'Sky Sports Racing',
  'Racing TV',
  'tote.co.uk',
  'Tote Placepot',
  'At The Races',
  'Watch Racing Free Online',
  'Download The Tote App',
  'Follow Us On Social Media',
  'Best Odds Guaranteed',
  'Visit Racing',
];

const RACE_KINDS = [
  'Handicap',
  'Maiden Stakes',
  'Novice Stakes',
  'Classified Stakes',
  'Nursery Handicap',
  "Fillies' Handicap",
  'Selling Stakes',
  'Apprentice Handicap',
  'Conditions Stakes',
  'Maiden Auction Stakes',
  "Amateur Riders' Handicap",
];

export interface NamePicker {
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
}

/** A horse name not already in `taken` (which it then joins). */
export function horseName(rng: NamePicker, taken: Set<string>): string {
  for (;;) {
    const name = rng.chance(0.25) ? rng.pick(SINGLE) : `${rng.pick(PREFIXES)} ${rng.pick(NOUNS)}`;
    if (!taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
}

/** e.g. "Racing TV Novice Stakes (Class 5)". */
export function raceTitle(rng: NamePicker & { int(a: number, b: number): number }): string {
  return `${rng.pick(SPONSORS)} ${rng.pick(RACE_KINDS)} (Class ${rng.int(2, 6)})`;
}
