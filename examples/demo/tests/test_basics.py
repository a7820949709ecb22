def test_addition():
    assert 1 + 1 == 2


def test_strings():
    assert "py" + "test" == "pytest"


def test_lists():
    assert sorted([3, 1, 2]) == [1, 2, 3]


def test_price_with_tax():
    price = 100
    assert price * 1.2 == 119


def test_uses_database(database):
    assert database is not None
