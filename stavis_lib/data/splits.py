"""The three test splits of the paper's Table 6 and the release's fold lists, as data.

STAViS (supplementary §6.2.1): DIEM uses its standard split from the literature; the
other five databases (Coutrot1, Coutrot2, AVAD, SumMe, ETMD) were split three ways like
3-fold cross-validation, every video in the test set of exactly one split. Table 6 lists
the test videos of each split.

Two sources are kept, because they disagree:

* ``"release"`` (default): the fold lists shipped with the official data release
  (``fold_lists/<DB>_list_{train,test}_{k}_fps.txt``), which the official code and the
  official checkpoints used. :data:`VIDEOS` holds each database's videos with frame
  counts and frame rates (facts taken from those lists).
* ``"paper"``: Table 6 as printed, with the PDF/OCR noise fixed (``advert_ipnone`` ->
  ``advert_iphone``, ``Cockpit Landing`` -> ``Cockpit_Landing``, merged cells split).

Where they agree: Coutrot1 and Coutrot2 (all three splits identical); SumMe split 1; the
DIEM test videos present in the release; SumMe splits 2-3 up to one video each; AVAD up to
2, 1 and 2 videos in splits 1-3; ETMD for 6 of 12 videos. Where they disagree (trust the
lists for reproducing the official numbers):

* AVAD: the lists test V3_Speech3 and V39_Guitar4 in splits 1 *and* 2 and V26_Piano2 in
  splits 2 *and* 3, and never test V33_Harp, V42_Violin2, V28_Dog1 (always training
  videos). Table 6 instead has V33_Harp and V31_Bird in split 1, V34_Beat in split 2,
  V42_Violin2 and V28_Dog1 in split 3 (a partition: each video tested once).
* SumMe: St_Maarten_Landing (Table 6 split 2) and Scuba (split 3) are in no test list;
  in their split they are in neither list (held out), in the other splits they train.
* ETMD: the lists test {CHI_1, CRA_2, GLA_1, DEP_2}, {LOR_1, CRA_1, FNE_1, GLA_2},
  {DEP_1, FNE_2, CHI_2, LOR_2}; Table 6 has {CHI_1, CHI_2, GLA_1, GLA_2},
  {CRA_1, CRA_2, FNE_1, FNE_2}, {DEP_1, DEP_2, LOR_1, LOR_2} (all ``*_color``).
* DIEM: the release names carry the frame size (``advert_iphone_1272x720``); Table 6
  has 20 test videos, the release 17: ``ami_ib4010_closeup``, ``ami_ib4010_left`` and
  ``news_tony_blair_resignation`` are not in the release at all. Train: 64 videos.
"""
from __future__ import annotations

import os
from pathlib import Path

from .layout import FOLD_KINDS, ReleaseLayout, VideoEntry

__all__ = [
    "DATASETS", "SPLITS", "SOURCES", "PAPER_DATASET_NAMES", "VIDEOS", "RELEASE_TEST", "RELEASE_HELD_OUT",
    "TABLE6_TEST", "DIEM_TABLE6_TEST", "video_entries", "get_test_videos", "get_train_videos", "fold_entries",
    "write_fold_lists",
]

DATASETS = ("DIEM", "Coutrot_db1", "Coutrot_db2", "AVAD", "SumMe", "ETMD_av")
"""Database folder names of the release (as used in ``fold_lists`` and ``video_frames``)."""
SPLITS = (1, 2, 3)
SOURCES = ("release", "paper")
PAPER_DATASET_NAMES = {"DIEM": "DIEM", "Coutrot 1": "Coutrot_db1", "Coutrot2": "Coutrot_db2",
                       "AVAD": "AVAD", "SumMe": "SumMe", "ETMD": "ETMD_av"}
"""Table 6 database labels -> release folder names."""

_INVENTORY = {
    "AVAD": """
V10_News3 308 29.970030
V11_News4 125 24.999750
V12_Conservation1 145 24.999750
V13_Conservation2 175 24.999750
V14_Conservation3 265 29.970030
V15_Drummer1 150 24.999750
V16_Drummer2 240 29.999700
V17_Soccer1 180 29.999700
V18_Soccer2 150 29.970030
V19_Singing1 240 29.970030
V1_Speech1 255 29.970030
V20_Singing2 271 29.970030
V21_Tap1 241 29.970030
V22_Tap2 300 29.999700
V23_Tap3 240 29.999700
V24_Tap4 200 24.999750
V25_Piano1 300 29.999700
V26_Piano2 150 29.970030
V27_Piano3 301 29.970030
V28_Dog1 210 29.970030
V29_Dog2 150 29.999700
V2_Speech2 240 29.970030
V30_Dog3 210 29.999700
V31_Bird 150 29.970030
V32_Dancers 202 28.666571
V33_Harp 301 29.970030
V34_Beat 300 29.999700
V35_Squirrel 210 29.999700
V36_Guitar1 156 23.976024
V37_Guitar2 126 24.999750
V38_Guitar3 251 29.970030
V39_Guitar4 240 29.970030
V3_Speech3 243 29.970030
V40_Guitar5 200 24.999750
V41_Violin1 129 24.999750
V42_Violin2 250 24.999750
V43_Violin3 190 23.976024
V44_Darbuka1 180 29.970030
V45_Darbuka2 200 24.999750
V4_Interview1 225 24.999750
V5_Interview2 152 23.999760
V6_Basketball1 193 23.976024
V7_Basketball2 240 29.970030
V8_News1 255 24.999750
V9_News2 150 24.999750
""",
    "Coutrot_db1": """
clip1 606 24.999750
clip10 597 24.999750
clip11 230 24.999750
clip12 296 24.999750
clip13 305 24.999750
clip14 371 24.999750
clip15 384 24.999750
clip16 594 24.999750
clip17 381 24.999750
clip18 297 24.999750
clip19 595 24.999750
clip2 374 24.999750
clip20 566 24.999750
clip21 476 24.999750
clip22 322 24.999750
clip23 535 24.999750
clip24 367 24.999750
clip25 353 24.999750
clip26 258 24.999750
clip27 409 24.999750
clip28 546 24.999750
clip29 236 24.999750
clip3 366 24.999750
clip30 594 24.999750
clip31 386 24.999750
clip32 357 24.999750
clip33 345 24.999750
clip34 525 24.999750
clip35 387 24.999750
clip36 476 24.999750
clip37 247 24.999750
clip38 247 24.999750
clip39 495 24.999750
clip4 385 24.999750
clip40 371 24.999750
clip41 352 24.999750
clip42 484 24.999750
clip43 385 24.999750
clip44 472 24.999750
clip45 371 24.999750
clip46 534 24.999750
clip47 469 24.999750
clip48 331 24.999750
clip49 494 24.999750
clip5 400 24.999750
clip50 613 24.999750
clip51 524 24.999750
clip52 296 24.999750
clip53 489 24.999750
clip54 595 24.999750
clip55 533 24.999750
clip56 571 24.999750
clip57 735 24.999750
clip58 418 24.999750
clip59 377 24.999750
clip6 384 24.999750
clip60 306 24.999750
clip7 264 24.999750
clip8 216 24.999750
clip9 300 24.999750
""",
    "Coutrot_db2": """
clip1 869 24.999750
clip10 621 24.999750
clip11 1242 24.999750
clip12 1465 24.999750
clip13 993 24.999750
clip14 1439 24.999750
clip15 993 24.999750
clip2 1118 24.999750
clip3 1987 24.999750
clip4 546 24.999750
clip5 869 24.999750
clip6 495 24.999750
clip7 1490 24.999750
clip8 1366 24.999750
clip9 1490 24.999750
""",
    "ETMD_av": """
CHI_1_color 5075 24.999750
CHI_2_color 5241 24.999750
CRA_1_color 5221 24.999750
CRA_2_color 5079 24.999750
DEP_1_color 4828 24.999750
DEP_2_color 5496 24.999750
FNE_1_color 5069 24.999750
FNE_2_color 5103 24.999750
GLA_1_color 5291 24.999750
GLA_2_color 4996 24.999750
LOR_1_color 5117 24.999750
LOR_2_color 5152 24.999750
""",
    "SumMe": """
Air_Force_One 4493 24.999750
Base_jumping 4728 29.970030
Bearpark_climbing 3340 24.999750
Bike_Polo 3063 29.999700
Bus_in_Rock_Tunnel 5130 29.999700
car_over_camera 4381 29.970030
Car_railcrossing 5074 29.970030
Cockpit_Landing 9045 29.970030
Cooking 1279 14.999850
Eiffel_Tower 4970 24.999750
Excavators_river_crossing 9720 24.999750
Fire_Domino 1611 29.999700
Jumps 949 24.999750
Kids_playing_in_leaves 3186 29.970030
Notre_Dame 4607 23.999760
Paintball 6095 23.976024
paluma_jump 2573 29.970030
playing_ball 3118 29.999700
Playing_on_water_slide 3064 29.970030
Saving_dolphines 6682 29.970030
Scuba 2220 29.999700
St_Maarten_Landing 1750 24.999750
Statue_of_Liberty 3862 24.999750
Uncut_Evening_Flight 9671 29.970030
Valparaiso_Downhill 5177 29.970030
""",
    "DIEM": """
50_people_brooklyn_1280x720 3667 29.999700
50_people_brooklyn_no_voices_1280x720 3667 29.999700
50_people_london_1280x720 3811 29.999700
50_people_london_no_voices_1280x720 3811 29.999700
advert_bbc4_bees_1024x576 1216 29.999700
advert_bbc4_library_1024x576 1200 29.999700
advert_bravia_paint_1280x720 2164 29.999700
advert_iphone_1272x720 898 29.999700
ami_is1000a_closeup_720x576 1261 29.999700
ami_is1000a_left_720x576 1269 29.999700
Antarctica_landscape_1246x720 2134 29.999700
arctic_bears_1066x710 2785 29.999700
basketball_of_sorts_960x720 3474 29.999700
BBC_life_in_cold_blood_1278x710 3399 29.999700
BBC_wildlife_eagle_930x720 3959 29.999700
BBC_wildlife_serpent_1280x704 1014 29.999700
BBC_wildlife_special_tiger_1276x720 4319 29.999700
chilli_plasters_1280x712 3696 29.999700
DIY_SOS_1280x712 1199 29.999700
documentary_adrenaline_rush_1280x720 3281 29.999700
documentary_coral_reef_adventure_1280x720 2968 29.999700
documentary_discoverers_1280x720 4359 29.999700
documentary_dolphins_1280x720 3180 29.999700
documentary_mystery_nile_1280x720 2602 29.999700
documentary_planet_earth_1280x704 5080 29.999700
game_trailer_bullet_witch_1280x720 3718 29.999700
game_trailer_ghostbusters_1280x720 3100 29.999700
game_trailer_lego_indiana_jones_1280x720 3313 29.999700
game_trailer_wrath_lich_king_shortened_subtitles_1280x548 5418 29.999700
growing_sweetcorn_1280x712 2222 29.999700
hairy_bikers_cabbage_1280x712 3120 29.999700
harry_potter_6_trailer_1280x544 2927 29.999700
home_movie_Charlie_bit_my_finger_again_960x720 1660 29.999700
hummingbirds_closeups_960x720 4215 29.999700
hummingbirds_narrator_960x720 1160 29.999700
hydraulics_1280x712 3610 29.999700
movie_trailer_alice_in_wonderland_1280x682 2536 29.999700
movie_trailer_ice_age_3_1280x690 3282 29.999700
movie_trailer_quantum_of_solace_1280x688 2992 29.999700
music_gummybear_880x720 886 29.999700
music_red_hot_chili_peppers_shortened_1024x576 5595 29.999700
music_trailer_nine_inch_nails_1280x720 1280 29.999700
news_bee_parasites_768x576 3071 29.999700
news_newsnight_othello_720x416 2294 29.999700
news_sherry_drinking_mice_768x576 1998 29.999700
news_us_election_debate_1080x600 2571 29.999700
news_video_republic_960x720 6275 29.999700
news_wimbledon_macenroe_shortened_768x576 4978 29.999700
nigella_chocolate_pears_1280x712 5392 29.999700
nightlife_in_mozambique_1280x580 1420 29.999700
one_show_1280x712 1429 29.999700
pingpong_angle_shot_960x720 898 29.999700
pingpong_closeup_rallys_960x720 1169 29.999700
pingpong_long_shot_960x720 3299 29.999700
pingpong_miscues_1080x720 3770 29.999700
pingpong_no_bodies_960x720 1370 29.999700
planet_earth_jungles_frogs_1280x704 4369 29.999700
planet_earth_jungles_monkeys_1280x704 4473 29.999700
scottish_parliament_1152x864 3977 29.999700
scottish_starters_1280x712 3122 29.999700
sport_barcelona_extreme_1280x720 1720 29.999700
sport_cricket_ashes_2007_1252x720 2573 29.999700
sport_F1_slick_tyres_1280x720 2258 29.999700
sport_football_best_goals_976x720 2476 29.999700
sport_golf_fade_a_driver_1280x720 2409 29.999700
sport_poker_1280x640 3479 29.999700
sport_scramblers_1280x720 1523 29.999700
sport_slam_dunk_1280x704 5746 29.999700
sport_surfing_in_thurso_900x720 2356 29.999700
sport_wimbledon_baltacha_1280x704 5817 29.999700
sport_wimbledon_federer_final_1280x704 2763 29.999700
sport_wimbledon_magic_wand_1280x704 1767 29.999700
sport_wimbledon_murray_1280x704 2626 29.999700
sports_kendo_1280x710 2767 29.999700
spotty_trifle_1280x712 2515 29.999700
stewart_lee_1280x712 2411 29.999700
tv_graduates_1280x720 4013 29.999700
tv_ketch2_672x544 2285 29.999700
tv_the_simpsons_860x528 3641 29.999700
tv_uni_challenge_final_1280x712 2575 29.999700
university_forum_construction_ionic_1280x720 1417 29.999700
""",
}

VIDEOS: dict[str, dict[str, tuple[int, float]]] = {
    db: {ln.split()[0]: (int(ln.split()[1]), float(ln.split()[2])) for ln in text.split("\n") if ln.strip()}
    for db, text in _INVENTORY.items()
}
"""Every video of the release per database: ``name -> (n_frames, fps)`` (from the release fold lists)."""

RELEASE_TEST: dict[str, tuple[tuple[str, ...], ...]] = {
    "AVAD": (
        ("V32_Dancers", "V6_Basketball1", "V3_Speech3", "V17_Soccer1", "V41_Violin1", "V29_Dog2", "V25_Piano1",
         "V39_Guitar4", "V27_Piano3", "V15_Drummer1", "V23_Tap3", "V24_Tap4", "V13_Conservation2", "V9_News2",
         "V10_News3"),
        ("V22_Tap2", "V26_Piano2", "V35_Squirrel", "V3_Speech3", "V11_News4", "V45_Darbuka2", "V38_Guitar3",
         "V14_Conservation3", "V8_News1", "V44_Darbuka1", "V1_Speech1", "V36_Guitar1", "V2_Speech2", "V18_Soccer2",
         "V39_Guitar4"),
        ("V40_Guitar5", "V16_Drummer2", "V30_Dog3", "V7_Basketball2", "V5_Interview2", "V21_Tap1", "V37_Guitar2",
         "V26_Piano2", "V43_Violin3", "V19_Singing1", "V4_Interview1", "V20_Singing2", "V12_Conservation1",
         "V31_Bird", "V34_Beat"),
    ),
    "Coutrot_db1": (
        tuple(f"clip{i}" for i in (4, 5, 10, 14, 15, 16, 17, 22, 24, 26, 32, 37, 38, 39, 44, 47, 48, 50, 56, 58)),
        tuple(f"clip{i}" for i in (1, 3, 7, 8, 11, 25, 27, 28, 29, 30, 31, 33, 36, 42, 43, 49, 52, 54, 55, 57)),
        tuple(f"clip{i}" for i in (2, 6, 9, 12, 13, 18, 19, 20, 21, 23, 34, 35, 40, 41, 45, 46, 51, 53, 59, 60)),
    ),
    "Coutrot_db2": (
        tuple(f"clip{i}" for i in (4, 15, 11, 14, 2)),
        tuple(f"clip{i}" for i in (12, 13, 10, 7, 5)),
        tuple(f"clip{i}" for i in (3, 1, 9, 6, 8)),
    ),
    "SumMe": (
        ("Valparaiso_Downhill", "Car_railcrossing", "Bearpark_climbing", "Playing_on_water_slide", "Fire_Domino",
         "Cockpit_Landing", "Saving_dolphines", "Notre_Dame"),
        ("Cooking", "Bus_in_Rock_Tunnel", "Uncut_Evening_Flight", "playing_ball", "Paintball", "Air_Force_One",
         "car_over_camera"),
        ("Base_jumping", "Bike_Polo", "paluma_jump", "Kids_playing_in_leaves", "Eiffel_Tower", "Statue_of_Liberty",
         "Excavators_river_crossing", "Jumps"),
    ),
    "ETMD_av": (
        ("CHI_1_color", "CRA_2_color", "GLA_1_color", "DEP_2_color"),
        ("LOR_1_color", "CRA_1_color", "FNE_1_color", "GLA_2_color"),
        ("DEP_1_color", "FNE_2_color", "CHI_2_color", "LOR_2_color"),
    ),
}
"""Test videos of splits 1-3 in the release fold lists (order as in the files)."""

RELEASE_DIEM_TEST = (
    "BBC_life_in_cold_blood_1278x710", "BBC_wildlife_serpent_1280x704", "DIY_SOS_1280x712",
    "advert_bbc4_bees_1024x576", "advert_bbc4_library_1024x576", "advert_iphone_1272x720",
    "harry_potter_6_trailer_1280x544", "music_gummybear_880x720", "music_trailer_nine_inch_nails_1280x720",
    "nightlife_in_mozambique_1280x580", "one_show_1280x712", "pingpong_angle_shot_960x720",
    "pingpong_no_bodies_960x720", "sport_scramblers_1280x720", "sport_wimbledon_federer_final_1280x704",
    "tv_uni_challenge_final_1280x712", "university_forum_construction_ionic_1280x720",
)
"""DIEM's standard test split in the release (17 videos; the other 64 train)."""

RELEASE_HELD_OUT: dict[str, tuple[tuple[str, ...], ...]] = {
    "SumMe": ((), ("St_Maarten_Landing",), ("Scuba",)),
}
"""Videos in neither the train nor the test list of a split (release), per split 1-3."""

TABLE6_TEST: dict[str, tuple[tuple[str, ...], ...]] = {
    "AVAD": (
        ("V32_Dancers", "V6_Basketball1", "V33_Harp", "V17_Soccer1", "V41_Violin1", "V29_Dog2", "V25_Piano1",
         "V31_Bird", "V27_Piano3", "V15_Drummer1", "V23_Tap3", "V24_Tap4", "V13_Conservation2", "V9_News2",
         "V10_News3"),
        ("V22_Tap2", "V34_Beat", "V35_Squirrel", "V3_Speech3", "V11_News4", "V45_Darbuka2", "V38_Guitar3",
         "V14_Conservation3", "V8_News1", "V44_Darbuka1", "V1_Speech1", "V36_Guitar1", "V2_Speech2", "V18_Soccer2",
         "V39_Guitar4"),
        ("V40_Guitar5", "V16_Drummer2", "V30_Dog3", "V7_Basketball2", "V42_Violin2", "V28_Dog1", "V5_Interview2",
         "V21_Tap1", "V37_Guitar2", "V26_Piano2", "V43_Violin3", "V19_Singing1", "V4_Interview1", "V20_Singing2",
         "V12_Conservation1"),
    ),
    "Coutrot_db1": RELEASE_TEST["Coutrot_db1"],
    "Coutrot_db2": RELEASE_TEST["Coutrot_db2"],
    "SumMe": (
        ("Valparaiso_Downhill", "Car_railcrossing", "Bearpark_climbing", "Playing_on_water_slide", "Fire_Domino",
         "Cockpit_Landing", "Saving_dolphines", "Notre_Dame"),
        ("Cooking", "Bus_in_Rock_Tunnel", "Uncut_Evening_Flight", "playing_ball", "St_Maarten_Landing", "Paintball",
         "Air_Force_One", "car_over_camera"),
        ("Base_jumping", "Bike_Polo", "Scuba", "paluma_jump", "Kids_playing_in_leaves", "Eiffel_Tower",
         "Statue_of_Liberty", "Excavators_river_crossing", "Jumps"),
    ),
    "ETMD_av": (
        ("CHI_1_color", "CHI_2_color", "GLA_1_color", "GLA_2_color"),
        ("CRA_1_color", "CRA_2_color", "FNE_1_color", "FNE_2_color"),
        ("DEP_1_color", "DEP_2_color", "LOR_1_color", "LOR_2_color"),
    ),
}
"""Paper Table 6: test videos of splits 1-3 for the five cross-validated databases (OCR noise fixed)."""

DIEM_TABLE6_TEST = (
    "BBC_life_in_cold_blood", "BBC_wildlife_serpent", "DIY_SOS", "advert_bbc4_bees", "advert_bbc4_library",
    "advert_iphone", "ami_ib4010_closeup", "ami_ib4010_left", "harry_potter_6_trailer", "music_gummybear",
    "music_trailer_nine_inch_nails", "news_tony_blair_resignation", "nightlife_in_mozambique", "one_show",
    "pingpong_angle_shot", "pingpong_no_bodies", "sport_scramblers", "sport_wimbledon_federer_final",
    "tv_uni_challenge_final", "university_forum_construction_ionic",
)
"""Paper Table 6, DIEM (same in every split), names without the release's ``_WxH`` suffix."""


def _check(db: str, split: int | None, source: str) -> None:
    if db not in DATASETS:
        raise ValueError(f"unknown database {db!r}; expected one of {DATASETS}")
    if source not in SOURCES:
        raise ValueError(f"unknown split source {source!r}; expected one of {SOURCES}")
    if db != "DIEM" and split not in SPLITS:
        raise ValueError(f"{db}: split must be one of {SPLITS}, got {split!r}")


def _diem_release_name(name: str) -> str:
    """Map a Table-6 DIEM name to the release name (with ``_WxH``) when the release has it."""
    for full in VIDEOS["DIEM"]:
        stem, _, size = full.rpartition("_")
        if stem == name and "x" in size:
            return full
    return name


def video_entries(db: str) -> list[VideoEntry]:
    """All videos of a database in the release, with frame counts and fps."""
    if db not in VIDEOS:
        raise ValueError(f"unknown database {db!r}; expected one of {DATASETS}")
    return [VideoEntry(n, f, fps) for n, (f, fps) in VIDEOS[db].items()]


def get_test_videos(db: str, split: int | None = 1, source: str = "release") -> list[str]:
    """Test videos of ``db`` in ``split`` (1-3; ignored for DIEM's standard split).

    ``source="paper"`` gives Table 6; DIEM names are mapped to the release names when the
    release has the video (3 of Table 6's DIEM test videos are not in the release).
    """
    _check(db, split, source)
    if db == "DIEM":
        if source == "release":
            return list(RELEASE_DIEM_TEST)
        return [_diem_release_name(n) for n in DIEM_TABLE6_TEST]
    table = RELEASE_TEST if source == "release" else TABLE6_TEST
    return list(table[db][int(split) - 1])


def get_train_videos(db: str, split: int | None = 1, source: str = "release") -> list[str]:
    """Training videos of ``db`` in ``split``: every release video that is neither tested nor held out."""
    tests = set(get_test_videos(db, split, source))
    held = set()
    if source == "release" and db in RELEASE_HELD_OUT:
        held = set(RELEASE_HELD_OUT[db][int(split) - 1])
    return [n for n in VIDEOS[db] if n not in tests and n not in held]


def fold_entries(db: str, kind: str, split: int | None = 1, source: str = "release") -> list[VideoEntry]:
    """Fold-list entries (name, frames, fps) for ``kind`` in {"train", "test"}; videos absent
    from the release (paper DIEM names) are left out because their frame counts are unknown."""
    if kind not in FOLD_KINDS:
        raise ValueError(f"fold list kind must be one of {FOLD_KINDS}, got {kind!r}")
    names = get_test_videos(db, split, source) if kind == "test" else get_train_videos(db, split, source)
    return [VideoEntry(n, *VIDEOS[db][n]) for n in names if n in VIDEOS[db]]


def write_fold_lists(root: str | os.PathLike, datasets: tuple[str, ...] = DATASETS,
                     source: str = "release") -> list[Path]:
    """Write the fold lists of ``datasets`` into ``root/fold_lists`` in the release format.

    Useful when a copy of the release lacks its lists, or to train on Table 6's splits
    (``source="paper"``). Returns the written paths.
    """
    layout = ReleaseLayout(root)
    written = []
    for db in datasets:
        splits = (None,) if db == "DIEM" else SPLITS
        for split in splits:
            for kind in FOLD_KINDS:
                written.append(layout.write_fold_list(db, kind, split, fold_entries(db, kind, split, source)))
    return written
