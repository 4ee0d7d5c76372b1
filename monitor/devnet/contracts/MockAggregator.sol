// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.10;

/// @title MockAggregator
/// @notice A Chainlink-style price feed whose answer the owner can move, so that a local chain
/// can replay price paths through the real AaveOracle. Emits Chainlink's NewRound and
/// AnswerUpdated exactly as a real aggregator does.
contract MockAggregator {
  event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
  event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

  address public immutable owner;
  string public description;
  uint8 public constant decimals = 8;
  uint256 public constant version = 4;

  uint256 public latestRound;
  mapping(uint256 => int256) public getAnswer;
  mapping(uint256 => uint256) public getTimestamp;

  constructor(string memory description_, int256 initialAnswer) {
    owner = msg.sender;
    description = description_;
    _setAnswer(initialAnswer);
  }

  /// @notice Publish a new answer (8 decimals) as the next round.
  function setAnswer(int256 answer) external {
    require(msg.sender == owner, "only owner");
    _setAnswer(answer);
  }

  function latestAnswer() external view returns (int256) {
    return getAnswer[latestRound];
  }

  function latestTimestamp() external view returns (uint256) {
    return getTimestamp[latestRound];
  }

  function latestRoundData()
    external
    view
    returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
  {
    uint256 round = latestRound;
    uint256 at = getTimestamp[round];
    return (uint80(round), getAnswer[round], at, at, uint80(round));
  }

  function getRoundData(uint80 roundId)
    external
    view
    returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
  {
    uint256 at = getTimestamp[roundId];
    require(at != 0, "no data present");
    return (roundId, getAnswer[roundId], at, at, roundId);
  }

  function _setAnswer(int256 answer) internal {
    uint256 round = latestRound + 1;
    latestRound = round;
    getAnswer[round] = answer;
    getTimestamp[round] = block.timestamp;
    emit NewRound(round, msg.sender, block.timestamp);
    emit AnswerUpdated(answer, round, block.timestamp);
  }
}
