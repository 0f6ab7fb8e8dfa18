//! National identity number checks, with test vectors (made-up people; the HETU examples
//! include the 2023 century signs).

use accord::validate::{Country, validate_national_id};

#[test]
fn hetu_valid_including_2023_century_signs() {
    for ok in [
        "131052-308T",
        "010594Y9032",
        "010594Y9021",
        "020505A902P",
        "020505E902P",
        "150971-7980",
        "210962Y611H",
    ] {
        assert_eq!(validate_national_id(Country::Fi, ok), Ok(()), "{ok}");
    }
}

#[test]
fn hetu_rejects_bad_checksum_date_and_sign() {
    assert!(
        validate_national_id(Country::Fi, "131052-308U")
            .unwrap_err()
            .contains("check character")
    );
    assert!(
        validate_national_id(Country::Fi, "310252-308T")
            .unwrap_err()
            .contains("does not exist")
    );
    assert!(
        validate_national_id(Country::Fi, "131052G308T")
            .unwrap_err()
            .contains("century")
    );
    assert!(validate_national_id(Country::Fi, "131052-308").is_err());
}

#[test]
fn personnummer_and_samordningsnummer_by_luhn() {
    for ok in ["811228-9874", "19811228-9874", "670919-9530", "701063-2391"] {
        assert_eq!(validate_national_id(Country::Se, ok), Ok(()), "{ok}");
    }
    assert!(
        validate_national_id(Country::Se, "811228-9875")
            .unwrap_err()
            .contains("Luhn")
    );
    assert!(
        validate_national_id(Country::Se, "811328-9874")
            .unwrap_err()
            .contains("date")
    );
}

#[test]
fn cpr_by_date_only() {
    assert_eq!(validate_national_id(Country::Dk, "010561-1236"), Ok(()));
    assert_eq!(validate_national_id(Country::Dk, "290200-4000"), Ok(())); // 2000 is a leap year
    assert!(validate_national_id(Country::Dk, "290201-4000").is_err());
    assert!(validate_national_id(Country::Dk, "320161-1236").is_err());
}

#[test]
fn messages_never_contain_the_number() {
    let n = "131052-308U";
    assert!(
        !validate_national_id(Country::Fi, n)
            .unwrap_err()
            .contains(n)
    );
}
